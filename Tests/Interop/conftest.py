"""Fixtures for the interoperability tests: Python stubs generated from Protos/ at test time,
and a `trove serve all` subprocess on a free loopback port."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Support"))
from trove_grpc import ROOT, ServeAll, generate_stubs  # noqa: E402


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
    """Python modules generated from every .proto with grpcio-tools, by module name."""
    out = Path(tempfile.mkdtemp(prefix="trove-stubs-"))
    yield generate_stubs(out)
    sys.path.remove(str(out))
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture()
def serve_all():
    """`trove serve all` with its own data directory (a `trove_grpc.ServeAll`)."""
    try:
        server = ServeAll(trove_binary(), Path(tempfile.mkdtemp(prefix="trove-interop-")))
    except RuntimeError as error:
        pytest.fail(str(error))
    yield server
    server.stop()
    server.remove()


@pytest.fixture()
def server(serve_all):
    """`trove serve all`: (address, data directory)."""
    return serve_all.address, serve_all.data
