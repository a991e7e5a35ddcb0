"""Fixtures for the interoperability tests: Python stubs generated from Protos/ at test time,
and a `trove serve all` subprocess on a free loopback port."""

import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def trove_binary() -> str:
    explicit = os.environ.get("TROVE_BINARY")
    if explicit:
        return explicit
    candidate = ROOT / ".build" / "debug" / "trove"
    if candidate.exists():
        return str(candidate)
    pytest.fail("set TROVE_BINARY or build the package first (swift build)")


@pytest.fixture(scope="session")
def stubs():
    """Generates Python modules from every .proto with grpcio-tools and imports them."""
    from grpc_tools import protoc

    out = Path(tempfile.mkdtemp(prefix="trove-stubs-"))
    include = Path(protoc.__file__).parent / "_proto"
    protos = sorted(str(p.relative_to(ROOT / "Protos")) for p in (ROOT / "Protos" / "trove").rglob("*.proto"))
    # The health protocol's package path (grpc/…) would clash with the installed grpc package,
    # so its module is generated at the top level; the service name on the wire is unchanged.
    for root, files in [(ROOT / "Protos", protos), (ROOT / "Protos" / "grpc" / "health" / "v1", ["health.proto"])]:
        status = protoc.main(
            ["grpc_tools.protoc", f"-I{root}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}"] + files
        )
        assert status == 0, f"grpc_tools.protoc failed for {files}"
    sys.path.insert(0, str(out))
    modules = {
        name: importlib.import_module(name)
        for name in [
            "health_pb2",
            "health_pb2_grpc",
            "trove.v1.object_storage_pb2",
            "trove.v1.object_storage_pb2_grpc",
            "trove.v1.metadata_pb2",
            "trove.v1.metadata_pb2_grpc",
            "trove.v1.embedding_pb2",
            "trove.v1.embedding_pb2_grpc",
            "trove.v1.vector_search_pb2",
            "trove.v1.vector_search_pb2_grpc",
            "trove.v1.common_pb2",
            "trove.v1.ingestion_pb2",
            "trove.v1.ingestion_pb2_grpc",
        ]
    }
    yield modules
    sys.path.remove(str(out))
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture()
def server():
    """`trove serve all` with its own data directory; yields (address, data directory)."""
    data = Path(tempfile.mkdtemp(prefix="trove-interop-"))
    process = subprocess.Popen(
        [trove_binary(), "serve", "all", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=open(data / "serve.log", "wb"),
        text=True,
    )
    address = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = re.search(r"listening on (\S+)", line)
        if match:
            address = match.group(1)
            break
    if address is None:
        process.kill()
        pytest.fail("trove serve all did not start: " + (data / "serve.log").read_text())
    yield address, data
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(data, ignore_errors=True)
