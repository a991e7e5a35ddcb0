#!/usr/bin/env bash
# `trove bench embed` beside sentence-transformers on PyTorch: builds trove in release mode,
# installs torch (CPU) and sentence-transformers into .venv-bench (large: not part of CI), and
# runs the benchmark. Extra arguments go to `trove bench embed`.
set -euo pipefail
cd "$(dirname "$0")/.."

./Scripts/install-dependencies.sh >/dev/null
if [ ! -x .venv-bench/bin/python ] || ! .venv-bench/bin/python -c "import torch, sentence_transformers" 2>/dev/null; then
  python3 -m venv .venv-bench
  .venv-bench/bin/python -m pip install --quiet --disable-pip-version-check torch sentence-transformers
fi
swift build -c release --product trove
"$(swift build -c release --show-bin-path)/trove" bench embed --python .venv-bench/bin/python "$@"
