#!/usr/bin/env bash
# `trove bench ingest` beside sentence-transformers + Chroma: makes the corpus (5,000 text files
# from /usr/share/doc and man pages, each cut to CORPUS_MAX_BYTES, 1 KB unless set: the model
# reads ~20 chunks/s on 2 cores, so full-length files — 76 MB, ~95,000 chunks — would take hours
# per side) under .build-corpus-SIZE/, installs torch, sentence-transformers and chromadb into
# .venv-bench (large: not part of CI), builds trove in release mode and runs the benchmark.
# Extra arguments go to `trove bench ingest`.
set -euo pipefail
cd "$(dirname "$0")/.."

./Scripts/install-dependencies.sh >/dev/null
export CORPUS_MAX_BYTES="${CORPUS_MAX_BYTES:-1024}"
corpus=".build-corpus-$CORPUS_MAX_BYTES"
if [ "$(find "$corpus" -name '*.txt' 2>/dev/null | wc -l)" -lt 5000 ]; then
  rm -rf "$corpus"
  Benchmarks/make-corpus.sh "$corpus" 5000
fi
if [ ! -x .venv-bench/bin/python ] || ! .venv-bench/bin/python -c "import torch, sentence_transformers, chromadb" 2>/dev/null; then
  python3 -m venv .venv-bench
  .venv-bench/bin/python -m pip install --quiet --disable-pip-version-check torch sentence-transformers chromadb
fi
swift build -c release --product trove
"$(swift build -c release --show-bin-path)/trove" bench ingest --corpus "$corpus" --python .venv-bench/bin/python "$@"
