"""Starts a real S3-compatible server on a free loopback port with signature checking on, and
prints one JSON line: the endpoint and an access key allowed everything. Stops the server when
standard input closes (when the test process that started it exits, however it exits).

  s3_test_server.py moto    moto_server; the key belongs to an IAM user made through its IAM API
  s3_test_server.py nanio   nanio, which also checks presigned URLs and percent-encoded keys
"""

import json
import os
import secrets
import shutil
import tempfile
import signal
import socket
import subprocess
import sys
import time

import boto3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the S3 server did not start")
            time.sleep(0.1)


def start_moto(port: int):
    endpoint = f"http://127.0.0.1:{port}"
    # The first three requests (the IAM set-up below) are let through unsigned; every request
    # after them must carry a valid SigV4 signature.
    environment = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(port, server)
    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap"
    )
    iam.create_user(UserName="trove-tests")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="trove-tests", PolicyName="everything", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="trove-tests")["AccessKey"]
    return server, key["AccessKeyId"], key["SecretAccessKey"], None


def start_nanio(port: int):
    data = tempfile.mkdtemp(prefix="trove-nanio-")
    access, secret = "trove" + secrets.token_hex(6), secrets.token_urlsafe(24)
    environment = dict(os.environ, NANIO_ACCESS_KEY=access, NANIO_SECRET_KEY=secret)
    executable = shutil.which("nanio", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if executable is None:
        raise SystemExit("nanio is not installed")
    server = subprocess.Popen(
        [executable, "serve", "--data-dir", data, "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(port, server)
    return server, access, secret, data


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "moto"
    port = free_port()
    server, access, secret, data = (start_nanio if kind == "nanio" else start_moto)(port)
    try:
        print(json.dumps({"endpoint": f"http://127.0.0.1:{port}", "access_key_id": access, "secret_access_key": secret}), flush=True)
        sys.stdin.read()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        if data:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
