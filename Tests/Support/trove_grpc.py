"""What the Python tests (Tests/Interop) and the reliability scripts (Tests/Reliability) share:
Python modules generated from Protos/ with grpcio-tools, and `trove serve all` as a subprocess
on a free loopback port."""

import importlib
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STUB_MODULES = [
    "health_pb2",
    "health_pb2_grpc",
    "trove.v1.common_pb2",
    "trove.v1.object_storage_pb2",
    "trove.v1.object_storage_pb2_grpc",
    "trove.v1.metadata_pb2",
    "trove.v1.metadata_pb2_grpc",
    "trove.v1.embedding_pb2",
    "trove.v1.embedding_pb2_grpc",
    "trove.v1.vector_search_pb2",
    "trove.v1.vector_search_pb2_grpc",
    "trove.v1.ingestion_pb2",
    "trove.v1.ingestion_pb2_grpc",
]


def generate_stubs(out: Path) -> dict:
    """Generates Python modules from every .proto into `out`, puts `out` on sys.path and imports
    them; returns them by module name."""
    from grpc_tools import protoc

    include = Path(protoc.__file__).parent / "_proto"
    protos = sorted(str(p.relative_to(ROOT / "Protos")) for p in (ROOT / "Protos" / "trove").rglob("*.proto"))
    # The health protocol's package path (grpc/…) would clash with the installed grpc package,
    # so its module is generated at the top level; the service name on the wire is unchanged.
    for root, files in [(ROOT / "Protos", protos), (ROOT / "Protos" / "grpc" / "health" / "v1", ["health.proto"])]:
        status = protoc.main(
            ["grpc_tools.protoc", f"-I{root}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}"] + files
        )
        if status != 0:
            raise RuntimeError(f"grpc_tools.protoc failed for {files}")
    sys.path.insert(0, str(out))
    return {name: importlib.import_module(name) for name in STUB_MODULES}


class ServeAll:
    """`BINARY serve all --listen 127.0.0.1:0 --data-dir DATA`, its standard error in
    DATA/serve.log. Raises RuntimeError (with the log) when it does not say where it listens."""

    def __init__(self, binary: str, data: Path, env: dict | None = None):
        self.data = Path(data)
        self.data.mkdir(parents=True, exist_ok=True)
        self.log = self.data / "serve.log"
        self.process = subprocess.Popen(
            [binary, "serve", "all", "--listen", "127.0.0.1:0", "--data-dir", str(self.data)],
            stdout=subprocess.PIPE,
            stderr=open(self.log, "wb"),
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.pid = self.process.pid
        self.address = None
        for line in self.process.stdout:  # until the line, or EOF when the process exited
            match = re.search(r"listening on (\S+)", line)
            if match:
                self.address = match.group(1)
                break
        if self.address is None:
            self.process.kill()
            self.process.wait()
            raise RuntimeError("trove serve all did not start:\n" + self.log.read_text(errors="replace"))
        # Keep reading its output so that it never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds; the exit status, None when killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return None
        return self.process.returncode

    def remove(self):
        shutil.rmtree(self.data, ignore_errors=True)
