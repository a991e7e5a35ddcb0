#!/usr/bin/env bash
# `trove bench ann` beside hnswlib (one thread) on the same data: builds trove in release mode,
# installs numpy and hnswlib into .venv-bench (hnswlib is built from source by pip, with
# -O3 -march=native), and runs the benchmark. Extra arguments go to `trove bench ann`.
set -euo pipefail
cd "$(dirname "$0")/.."

./Scripts/install-dependencies.sh >/dev/null
if [ ! -x .venv-bench/bin/python ] || ! .venv-bench/bin/python -c "import hnswlib, numpy" 2>/dev/null; then
  python3 -m venv .venv-bench
  .venv-bench/bin/python -m pip install --quiet --disable-pip-version-check numpy hnswlib
fi
swift build -c release --product trove
"$(swift build -c release --show-bin-path)/trove" bench ann --python .venv-bench/bin/python "$@"
