#!/usr/bin/env bash
# `trove bench objects` against a local S3 server: builds trove in release mode, starts the
# server (nanio by default, or moto: `Benchmarks/objects.sh moto`) with signature checks on, and
# runs the benchmark with its credentials. Extra arguments go to `trove bench objects`.
set -euo pipefail
cd "$(dirname "$0")/.."

server="${1:-nanio}"
shift || true

./Scripts/install-dependencies.sh --test >/dev/null
swift build -c release --product trove
trove="$(swift build -c release --show-bin-path)/trove"

coproc S3 { .venv/bin/python Tests/Support/s3_test_server.py "$server"; }
read -r line <&"${S3[0]}"
# The helper stops the server when its standard input closes, i.e. when this script exits.
read -r endpoint AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY < <(
    .venv/bin/python -c 'import json, sys; d = json.loads(sys.argv[1]); print(d["endpoint"], d["access_key_id"], d["secret_access_key"])' "$line"
)
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
echo "S3 server: $server at $endpoint"
"$trove" bench objects --s3-endpoint "$endpoint" "$@"
