"""A client not written in Swift — Python grpcio with stubs generated from Protos/ — talks to
`trove serve all`: health, and object round trips of 0 bytes, 1 byte, 5 MiB and 64 MiB."""

import hashlib
import os

import grpc
import pytest

CHUNK = 1 << 20
OPTIONS = [("grpc.max_receive_message_length", 8 << 20), ("grpc.max_send_message_length", 8 << 20)]


def test_health(server, stubs):
    health_pb2 = stubs["health_pb2"]
    health_grpc = stubs["health_pb2_grpc"]
    address, _ = server
    with grpc.insecure_channel(address, options=OPTIONS) as channel:
        health = health_grpc.HealthStub(channel)
        for service in ["", "trove.v1.Ingestion", "trove.v1.Embedding", "trove.v1.VectorSearch", "trove.v1.Metadata", "trove.v1.ObjectStorage"]:
            response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert response.status == health_pb2.HealthCheckResponse.SERVING, service
        with pytest.raises(grpc.RpcError) as error:
            health.Check(health_pb2.HealthCheckRequest(service="trove.v1.Unknown"), timeout=10)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("size", [0, 1, 5 << 20, 64 << 20])
def test_object_round_trip(server, stubs, size):
    pb = stubs["trove.v1.object_storage_pb2"]
    rpc = stubs["trove.v1.object_storage_pb2_grpc"]
    address, _ = server
    data = os.urandom(size)
    digest = hashlib.sha256(data).hexdigest()
    with grpc.insecure_channel(address, options=OPTIONS) as channel:
        storage = rpc.ObjectStorageStub(channel)
        storage.CreateBucket(pb.CreateBucketRequest(bucket="python"), timeout=10)

        def requests():
            yield pb.PutObjectRequest(
                header=pb.PutObjectHeader(bucket="python", key=f"sizes/{size}.bin", content_type="application/x-test", user_metadata={"from": "python"})
            )
            for offset in range(0, size, CHUNK):
                yield pb.PutObjectRequest(chunk=data[offset : offset + CHUNK])

        stored = storage.PutObject(requests(), timeout=120).object
        assert stored.size == size
        assert stored.sha256 == digest

        received = bytearray()
        info = None
        for message in storage.GetObject(pb.GetObjectRequest(bucket="python", key=f"sizes/{size}.bin"), timeout=120):
            if message.HasField("info"):
                info = message.info
            else:
                received += message.chunk
        assert info is not None and info.sha256 == digest
        assert info.user_metadata["from"] == "python"
        assert len(received) == size
        assert hashlib.sha256(received).hexdigest() == digest
        assert bytes(received) == data

        head = storage.HeadObject(pb.HeadObjectRequest(bucket="python", key=f"sizes/{size}.bin"), timeout=10)
        assert head.size == size and head.sha256 == digest and head.content_type == "application/x-test"


def test_errors_are_grpc_statuses(server, stubs):
    pb = stubs["trove.v1.object_storage_pb2"]
    rpc = stubs["trove.v1.object_storage_pb2_grpc"]
    metadata_pb = stubs["trove.v1.metadata_pb2"]
    metadata_rpc = stubs["trove.v1.metadata_pb2_grpc"]
    address, _ = server
    with grpc.insecure_channel(address, options=OPTIONS) as channel:
        storage = rpc.ObjectStorageStub(channel)
        storage.CreateBucket(pb.CreateBucketRequest(bucket="errors"), timeout=10)
        with pytest.raises(grpc.RpcError) as error:
            storage.HeadObject(pb.HeadObjectRequest(bucket="errors", key="../../etc/passwd"), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "key" in error.value.details()
        with pytest.raises(grpc.RpcError) as error:
            storage.HeadObject(pb.HeadObjectRequest(bucket="errors", key="missing"), timeout=10)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        # The metadata service answers from SQLite; a malformed id names its field.
        metadata = metadata_rpc.MetadataStub(channel)
        assert metadata.GetStats(metadata_pb.GetStatsRequest(), timeout=10).database_bytes > 0
        with pytest.raises(grpc.RpcError) as error:
            metadata.GetDocument(metadata_pb.GetDocumentRequest(id="not-a-uuid"), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details().startswith("id:")
        # The embedding service answers too; an empty batch names its field.
        embedding_pb = stubs["trove.v1.embedding_pb2"]
        embedding_rpc = stubs["trove.v1.embedding_pb2_grpc"]
        with pytest.raises(grpc.RpcError) as error:
            embedding_rpc.EmbeddingStub(channel).Embed(embedding_pb.EmbedRequest(), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details().startswith("texts")


def test_vector_search_from_python(server, stubs):
    pb = stubs["trove.v1.vector_search_pb2"]
    rpc = stubs["trove.v1.vector_search_pb2_grpc"]
    common = stubs["trove.v1.common_pb2"]
    address, _ = server
    with grpc.insecure_channel(address, options=OPTIONS) as channel:
        vectors = rpc.VectorSearchStub(channel)
        vectors.CreateCollection(
            pb.CreateVectorCollectionRequest(name="python", dimension=3, metric=common.DISTANCE_METRIC_COSINE), timeout=10
        )
        points = {"x": [1, 0, 0], "y": [0, 1, 0], "xy": [1, 1, 0]}
        request = pb.UpsertRequest(collection="python")
        for name, values in points.items():
            vector = request.vectors.add(id=name, values=values)
            vector.payload.update({"axis": name, "len": len(name)})
        assert vectors.Upsert(request, timeout=10).upserted == 3

        found = vectors.Search(pb.SearchVectorsRequest(collection="python", vector=[1, 0.1, 0], k=2), timeout=10)
        assert [result.id for result in found.results] == ["x", "xy"]
        assert found.results[0].score > found.results[1].score > 0

        only_long = common.Filter(condition=common.FieldCondition(field="len", number_range=common.NumberRange(gt=1)))
        filtered = vectors.Search(
            pb.SearchVectorsRequest(collection="python", vector=[1, 0, 0], k=3, filter=only_long, include_payload=True), timeout=10
        )
        assert [result.id for result in filtered.results] == ["xy"]
        assert filtered.results[0].payload["axis"] == "xy"

        with pytest.raises(grpc.RpcError) as error:
            vectors.Upsert(pb.UpsertRequest(collection="python", vectors=[pb.Vector(id="bad", values=[1, 2])]), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.value.details().startswith("vectors[0].values:")
        info = vectors.DescribeCollection(pb.DescribeVectorCollectionRequest(name="python"), timeout=10)
        assert info.count == 3 and info.dimension == 3


def test_ingestion_from_python(server, stubs):
    """Ingest, dedup, status, search in all three modes with a filter, delete cascade — through
    grpcio — and every store checked afterwards for orphans."""
    pb = stubs["trove.v1.ingestion_pb2"]
    rpc = stubs["trove.v1.ingestion_pb2_grpc"]
    common = stubs["trove.v1.common_pb2"]
    meta_pb = stubs["trove.v1.metadata_pb2"]
    meta_rpc = stubs["trove.v1.metadata_pb2_grpc"]
    vec_pb = stubs["trove.v1.vector_search_pb2"]
    vec_rpc = stubs["trove.v1.vector_search_pb2_grpc"]
    obj_pb = stubs["trove.v1.object_storage_pb2"]
    obj_rpc = stubs["trove.v1.object_storage_pb2_grpc"]
    address, _ = server
    documents = {
        "kettle.txt": ("Descaling a kettle: boil a mix of water and white vinegar, leave it for an hour, then rinse "
                       "twice. Limescale comes from hard water.", {"room": "kitchen", "minutes": 60}),
        "tyres.md": ("# Fixing a puncture\n\nTake the inner tube out of the bicycle tyre, find the hole by listening "
                     "for air, roughen the rubber and glue a patch over it.", {"room": "garage", "minutes": 20}),
    }

    def ingest(ingestion, name, text, metadata):
        def messages():
            header = pb.IngestHeader(collection="py", filename=name)
            header.metadata.update(metadata)
            yield pb.IngestDocumentRequest(header=header)
            data = text.encode()
            for start in range(0, len(data), 64):
                yield pb.IngestDocumentRequest(chunk=data[start:start + 64])
        return ingestion.IngestDocument(messages(), timeout=30)

    with grpc.insecure_channel(address, options=OPTIONS) as channel:
        ingestion = rpc.IngestionStub(channel)
        metadata = meta_rpc.MetadataStub(channel)
        vectors = vec_rpc.VectorSearchStub(channel)
        storage = obj_rpc.ObjectStorageStub(channel)
        ingestion.CreateCollection(pb.CreateIngestionCollectionRequest(name="py"), timeout=30)
        ids = {}
        for name, (text, meta) in documents.items():
            response = ingest(ingestion, name, text, meta)
            assert response.status == common.DOCUMENT_STATUS_PENDING and not response.duplicate
            assert response.sha256 == hashlib.sha256(text.encode()).hexdigest()
            ids[name] = response.document_id
        again = ingest(ingestion, "again.txt", documents["kettle.txt"][0], {})
        assert again.duplicate and again.document_id == ids["kettle.txt"]

        import time
        deadline = time.monotonic() + 60
        for document_id in ids.values():
            while True:
                document = ingestion.GetDocumentStatus(pb.GetDocumentStatusRequest(document_id=document_id), timeout=10)
                if document.status in (common.DOCUMENT_STATUS_COMPLETED, common.DOCUMENT_STATUS_FAILED) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert document.status == common.DOCUMENT_STATUS_COMPLETED, document.error_message
            assert document.chunk_count >= 1

        vector = ingestion.Search(pb.SearchRequest(collection="py", query="my bike has a flat tire", k=1), timeout=30)
        assert [hit.filename for hit in vector.hits] == ["tyres.md"]
        keyword = ingestion.Search(pb.SearchRequest(collection="py", query="limescale", mode=pb.SEARCH_MODE_KEYWORD), timeout=30)
        assert [hit.filename for hit in keyword.hits] == ["kettle.txt"]
        assert "<b>" in keyword.hits[0].snippet
        hybrid = ingestion.Search(pb.SearchRequest(collection="py", query="vinegar limescale", mode=pb.SEARCH_MODE_HYBRID, k=2), timeout=30)
        assert hybrid.hits[0].filename == "kettle.txt" and hybrid.hits[0].keyword_rank == 1
        in_garage = common.Filter(condition=common.FieldCondition(field="room", equals=struct_value("garage")))
        filtered = ingestion.Search(pb.SearchRequest(collection="py", query="boiling water", k=5, filter=in_garage), timeout=30)
        assert [hit.filename for hit in filtered.hits] == ["tyres.md"]

        kettle = metadata.GetDocument(meta_pb.GetDocumentRequest(id=ids["kettle.txt"], include_chunks=True), timeout=10)
        chunk_ids = [chunk.id for chunk in kettle.chunks]
        deleted = ingestion.DeleteDocument(pb.DeleteIngestedDocumentRequest(document_id=ids["kettle.txt"]), timeout=30)
        assert deleted.chunks_deleted == len(chunk_ids) and deleted.vectors_deleted == len(chunk_ids) and deleted.object_deleted
        assert len(vectors.Get(vec_pb.GetVectorsRequest(collection="py", ids=chunk_ids), timeout=10).vectors) == 0
        with pytest.raises(grpc.RpcError) as error:
            storage.HeadObject(obj_pb.HeadObjectRequest(bucket=kettle.document.location.bucket, key=kettle.document.location.key), timeout=10)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as error:
            ingestion.GetDocumentStatus(pb.GetDocumentStatusRequest(document_id=ids["kettle.txt"]), timeout=10)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        remaining = metadata.GetDocument(meta_pb.GetDocumentRequest(id=ids["tyres.md"], include_chunks=True), timeout=10)
        info = vectors.DescribeCollection(vec_pb.DescribeVectorCollectionRequest(name="py"), timeout=10)
        assert info.count == len(remaining.chunks)

        with pytest.raises(grpc.RpcError) as error:
            ingestion.Search(pb.SearchRequest(collection="py", query="x", k=5000), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and error.value.details().startswith("k:")


def struct_value(value):
    from google.protobuf import struct_pb2
    result = struct_pb2.Value()
    result.string_value = value
    return result


def test_reflection_lists_and_describes_every_service(server):
    """grpcio-reflection's client, as grpcurl or Postman would, discovers the services and
    their messages from the server alone, with no .proto file at hand."""
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    address, _ = server
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        expected = {"trove.v1.Ingestion", "trove.v1.Embedding", "trove.v1.VectorSearch", "trove.v1.Metadata", "trove.v1.ObjectStorage", "grpc.health.v1.Health"}
        assert expected <= services, services
        pool = DescriptorPool(database)
        search = pool.FindMethodByName("trove.v1.Ingestion.Search")
        assert search.input_type.full_name == "trove.v1.SearchRequest"
        assert {"collection", "query", "k", "filter", "mode"} <= set(search.input_type.fields_by_name)
        # Imports come along: the metadata filter lives in common.proto, timestamps in the well-known types.
        document = pool.FindMessageTypeByName("trove.v1.Document")
        assert document.fields_by_name["created_at"].message_type.full_name == "google.protobuf.Timestamp"
        with pytest.raises(KeyError):
            pool.FindMessageTypeByName("trove.v1.NoSuchMessage")
