"""A Python grpcio client connects over TLS with an API key and searches; without the key it is refused."""

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import grpc
import pytest

from conftest import trove_binary
from trove_grpc import ServeAll


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path):
    """A CA and a leaf for localhost/127.0.0.1 signed by it, EC P-256, as PEM files."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Trove Test CA", cwd=directory)
    openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost", cwd=directory)
    (directory / "leaf.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
    )
    openssl(
        "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext", cwd=directory,
    )


@pytest.fixture()
def tls_server():
    """`trove serve all` with TLS and API keys on; yields (address, CA PEM bytes, service key)."""
    certs = Path(tempfile.mkdtemp(prefix="trove-certs-"))
    data = Path(tempfile.mkdtemp(prefix="trove-secure-"))
    server = None
    try:
        make_certificates(certs)
        service_key = secrets.token_urlsafe(32)
        env = dict(
            os.environ,
            TROVE_AUTH_ENABLED="true",
            TROVE_AUTH_SERVICE_KEY=service_key,
            TROVE_AUTH_KEY_CACHE_SECONDS="0",
            TROVE_TLS_CERTIFICATE_FILE=str(certs / "leaf.pem"),
            TROVE_TLS_PRIVATE_KEY_FILE=str(certs / "leaf.key"),
            TROVE_TLS_CA_FILE=str(certs / "ca.pem"),
            TROVE_TLS_REQUIRE_CLIENT_CERTIFICATE="false",
            TROVE_EMBEDDING_PROVIDER="hashing",
        )
        try:
            server = ServeAll(trove_binary(), data, env)
        except RuntimeError as error:
            pytest.fail(str(error))
        yield server.address, (certs / "ca.pem").read_bytes(), service_key
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(certs, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


def bearer(key):
    return (("authorization", "Bearer " + key),)


def rpc_code(call, *args, **kwargs):
    """Runs a call that must fail; returns its status code."""
    with pytest.raises(grpc.RpcError) as error:
        call(*args, **kwargs)
    return error.value.code()


def test_tls_and_api_keys(tls_server, stubs):
    pb = stubs["trove.v1.ingestion_pb2"]
    rpc = stubs["trove.v1.ingestion_pb2_grpc"]
    common = stubs["trove.v1.common_pb2"]
    meta_pb = stubs["trove.v1.metadata_pb2"]
    meta_rpc = stubs["trove.v1.metadata_pb2_grpc"]
    health_pb2 = stubs["health_pb2"]
    health_grpc = stubs["health_pb2_grpc"]
    address, ca, service_key = tls_server
    text = "Descaling a kettle: boil water with white vinegar, leave it an hour, rinse twice."

    def ingest_messages():
        yield pb.IngestDocumentRequest(header=pb.IngestHeader(collection="secure", filename="kettle.txt"))
        yield pb.IngestDocumentRequest(chunk=text.encode())

    credentials = grpc.ssl_channel_credentials(root_certificates=ca)
    with grpc.secure_channel(address, credentials) as channel:
        # Health is open: no key needed.
        health = health_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status == health_pb2.HealthCheckResponse.SERVING

        # The service key mints an admin and a readonly key.
        metadata = meta_rpc.MetadataStub(channel)
        admin = metadata.CreateApiKey(meta_pb.CreateApiKeyRequest(name="py-admin", role=meta_pb.ROLE_ADMIN), metadata=bearer(service_key), timeout=10)
        reader = metadata.CreateApiKey(meta_pb.CreateApiKeyRequest(name="py-reader", role=meta_pb.ROLE_READONLY), metadata=bearer(service_key), timeout=10)
        assert admin.secret and reader.secret and admin.key.id != reader.key.id
        assert reader.key.role == meta_pb.ROLE_READONLY

        # As admin: a collection and one document, polled until completed.
        ingestion = rpc.IngestionStub(channel)
        ingestion.CreateCollection(pb.CreateIngestionCollectionRequest(name="secure"), metadata=bearer(admin.secret), timeout=30)
        document_id = ingestion.IngestDocument(ingest_messages(), metadata=bearer(admin.secret), timeout=30).document_id
        deadline = time.monotonic() + 60
        while True:
            document = ingestion.GetDocumentStatus(pb.GetDocumentStatusRequest(document_id=document_id), metadata=bearer(admin.secret), timeout=10)
            if document.status in (common.DOCUMENT_STATUS_COMPLETED, common.DOCUMENT_STATUS_FAILED) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert document.status == common.DOCUMENT_STATUS_COMPLETED, document.error_message

        # As readonly: search finds it.
        search = pb.SearchRequest(collection="secure", query="kettle vinegar", k=3)
        found = ingestion.Search(search, metadata=bearer(reader.secret), timeout=30)
        assert found.hits and found.hits[0].document_id == document_id and found.hits[0].filename == "kettle.txt"

        # No key, or a bogus one: unauthenticated.
        assert rpc_code(ingestion.Search, search, timeout=10) == grpc.StatusCode.UNAUTHENTICATED
        assert rpc_code(ingestion.Search, search, metadata=bearer("trove_bogus_" + "x" * 32), timeout=10) == grpc.StatusCode.UNAUTHENTICATED
        # Readonly may not write: permission denied.
        assert rpc_code(
            ingestion.CreateCollection, pb.CreateIngestionCollectionRequest(name="nope"), metadata=bearer(reader.secret), timeout=10
        ) == grpc.StatusCode.PERMISSION_DENIED
        assert rpc_code(ingestion.IngestDocument, ingest_messages(), metadata=bearer(reader.secret), timeout=10) == grpc.StatusCode.PERMISSION_DENIED

    # Plaintext to the TLS port never gets a connection.
    with grpc.insecure_channel(address) as plain:
        assert rpc_code(
            rpc.IngestionStub(plain).Search, search, metadata=bearer(reader.secret), timeout=5
        ) == grpc.StatusCode.UNAVAILABLE
