#!/usr/bin/env bash
# The reliability suite's long part, on demand (the test command runs the short one):
#   1. crash anywhere: 20 kills of each service during a 1,000-document ingest (CI: 3);
#      TROVE_RELIABILITY_SEED=N repeats a run; extra arguments go to `swift test`
#   2. the RPC fuzzer: 10,000 cases plus the heavy ones — 100 MB single-line document and
#      object, 10 MB texts (CI: the 10,000 cases and an 8 MB document)
#   3. sustained load: 10 minutes from 4 client processes (CI: 60 s)
# Each step stops the script when it fails; the reports are kept in .build/reliability/.
set -euo pipefail
cd "$(dirname "$0")/.."

./Scripts/install-dependencies.sh --test
./Scripts/fetch-model.sh
swift build --build-tests
trove="$(swift build --show-bin-path)/trove"
reports=.build/reliability
mkdir -p "$reports"

echo "== crash anywhere, 20 kills per service"
TROVE_RELIABILITY_LONG=1 swift test --skip-build --filter ReliabilityTests "$@" 2>&1 | tee "$reports/crash.txt"

echo "== RPC fuzzer with the heavy cases"
.venv/bin/python Tests/Reliability/fuzz_rpcs.py --binary "$trove" --cases 10000 --seed 20261126 --long --report "$reports/fuzz.txt"

echo "== sustained load, 10 minutes"
.venv/bin/python Tests/Reliability/load.py --trove "$trove" --seconds 600 --clients 4 --report "$reports/load.txt"
