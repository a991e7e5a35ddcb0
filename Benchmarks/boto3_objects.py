"""The peer of `trove bench objects`: the same PUTs and GETs done by boto3 straight to the S3
server. Prints one JSON line per case: {"case", "count", "bytes", "put_seconds", "get_seconds"}.

  boto3_objects.py ENDPOINT BUCKET CASE:FILE:COUNT [CASE:FILE:COUNT ...]

Credentials and region come from the standard AWS_* environment variables. Uploads and
downloads go through boto3's managed transfer (`upload_file`, `download_file`), which is what a
Python user of S3 would write; downloads are written to files beside the sources.
"""

import json
import os
import sys
import time

import boto3
from botocore.config import Config


def main() -> None:
    endpoint, bucket, cases = sys.argv[1], sys.argv[2], sys.argv[3:]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}),
    )
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    for case in cases:
        name, source, count = case.rsplit(":", 2)
        count = int(count)
        size = os.path.getsize(source)
        keys = [f"boto3/{name}/{index}" for index in range(count)]

        started = time.perf_counter()
        for key in keys:
            s3.upload_file(source, bucket, key)
        put_seconds = time.perf_counter() - started

        destination = source + ".boto3-download"
        started = time.perf_counter()
        for key in keys:
            s3.download_file(bucket, key, destination)
        get_seconds = time.perf_counter() - started

        if os.path.getsize(destination) != size:
            raise SystemExit(f"boto3 downloaded {os.path.getsize(destination)} bytes of {size}")
        os.remove(destination)
        for key in keys:
            s3.delete_object(Bucket=bucket, Key=key)
        print(json.dumps({"case": name, "count": count, "bytes": size * count, "put_seconds": put_seconds, "get_seconds": get_seconds}), flush=True)


if __name__ == "__main__":
    main()
