#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what it needs, builds once (debug), runs
# the Swift tests, then the Python interoperability tests against the same binary.
set -euo pipefail
cd "$(dirname "$0")/.."

./Scripts/install-dependencies.sh --test

echo "== build"
swift build --build-tests

echo "== deployment files"
TROVE_BINARY="$(swift build --show-bin-path)/trove" Scripts/validate-deploy.sh

echo "== swift tests"
# The crash scenario keeps five services busy for minutes; it runs alone, after the others, so
# their timing (deadlines of a few seconds) is not judged on a machine it saturates.
swift test --skip-build --skip ReliabilityTests

echo "== reliability: crash anywhere"
swift test --skip-build --filter ReliabilityTests

echo "== interoperability tests (Python grpcio)"
TROVE_BINARY="$(swift build --show-bin-path)/trove" .venv/bin/python -m pytest -q Tests/Interop
