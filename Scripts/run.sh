#!/usr/bin/env bash
# The main job on a new machine: installs what is missing, builds Trove in release mode, starts
# all five services in one process with the embedded defaults (data under ./trove-data), shows
# them working, and keeps serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

./Scripts/install-dependencies.sh

echo "== building trove (release; the first build takes several minutes)"
swift build -c release --product trove
trove="$(swift build -c release --show-bin-path)/trove"
address="${TROVE_LISTEN:-127.0.0.1:7420}"

echo "== starting: trove serve all (listening on $address, data in ./trove-data)"
"$trove" serve all --listen "$address" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null' EXIT
trap 'exit 0' INT TERM

for _ in $(seq 1 100); do
  "$trove" health --addr "$address" --timeout 1 >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { echo "trove serve all exited" >&2; exit 1; }
  sleep 0.2
done

echo "== trove health"
"$trove" health --addr "$address"

echo "== storing and reading back an object"
"$trove" objects mb demo --addr "$address" 2>/dev/null || true
"$trove" objects put demo docs/README.md README.md --content-type text/markdown --addr "$address"
"$trove" objects ls demo --addr "$address"
"$trove" objects get demo docs/README.md --range 0:120 --addr "$address"
echo
echo
echo "Trove is serving on $address. Try: $trove --help    (Ctrl-C stops it)"
wait $server
