"""Starts moto_server, a real S3-compatible server, on a free loopback port with signature
checking switched on, and prints one JSON line: the endpoint and an access key of an IAM user
allowed everything. Stops the server when standard input closes (when the test process that
started it exits, however it exits)."""

import json
import os
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


def main() -> None:
    port = free_port()
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
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("moto_server did not start")
                time.sleep(0.1)
        iam = boto3.client(
            "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap"
        )
        iam.create_user(UserName="trove-tests")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="trove-tests", PolicyName="everything", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="trove-tests")["AccessKey"]
        print(json.dumps({"endpoint": endpoint, "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}), flush=True)
        sys.stdin.read()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
