#!/usr/bin/env bash
# The main job on a new machine: installs what is missing, builds Trove in release mode, starts
# all five services in one process with the embedded defaults (data under ./trove-data), ingests
# the sample documents in Samples/, runs a few searches, and keeps serving until Ctrl-C.
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

echo "== ingesting the sample documents in Samples/ into the collection 'samples'"
"$trove" ingest Samples --collection samples --addr "$address"

echo
echo "== searching by meaning (vector search)"
for query in \
  "how do I keep my sourdough starter alive" \
  "why do my disc brakes squeal and how do I fix it" \
  "how does a sender slow down when the network is congested" \
  "what should I do right after burning my hand on a hot pan" \
  "how did ancient Rome bring water into the city"; do
  echo "-- trove search \"$query\""
  "$trove" search "$query" --collection samples -k 2 --addr "$address"
done

echo "== searching for an exact term (keyword) and both ways at once (hybrid)"
echo "-- trove search \"zeppelin bend\" --mode keyword"
"$trove" search "zeppelin bend" --mode keyword --collection samples -k 1 --addr "$address"
echo "-- trove search \"how long should I steep a French press\" --mode hybrid"
"$trove" search "how long should I steep a French press" --mode hybrid --collection samples -k 2 --addr "$address"

echo "== trove status"
"$trove" status --addr "$address"
echo
echo
echo "Trove is serving on $address. Try: $trove --help    (Ctrl-C stops it)"
wait $server
