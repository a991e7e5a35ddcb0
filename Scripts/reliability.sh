#!/usr/bin/env bash
# The reliability suite's long run, on demand: the crash scenario with 20 kills of each service
# (CI runs 3). TROVE_RELIABILITY_SEED=N repeats a run. Extra arguments go to `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."

./Scripts/install-dependencies.sh --test
./Scripts/fetch-model.sh
swift build --build-tests
TROVE_RELIABILITY_LONG=1 swift test --skip-build --filter ReliabilityTests "$@"
