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
swift test --skip-build

echo "== interoperability tests (Python grpcio)"
TROVE_BINARY="$(swift build --show-bin-path)/trove" .venv/bin/python -m pytest -q Tests/Interop
