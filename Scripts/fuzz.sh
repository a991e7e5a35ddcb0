#!/usr/bin/env bash
# Runs a libFuzzer fuzzer over one of Trove's fuzz targets (Tests/FuzzTargets): tokenizer,
# filter, json, sigv4, wal, snapshot. Builds Fuzz/ with -sanitize=fuzzer,address into
# .build-fuzz/, then fuzzes for SECONDS (default 60), adding what it finds to
# Fuzz/Corpus/TARGET. A failing input is written to .build-fuzz/findings/ and the run stops.
#   Scripts/fuzz.sh TARGET [SECONDS] [libFuzzer options…]
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:?usage: Scripts/fuzz.sh tokenizer|filter|json|sigv4|wal|snapshot [SECONDS]}"
seconds="${2:-60}"
shift $(( $# >= 2 ? 2 : 1 ))

swift build --package-path Fuzz --scratch-path .build-fuzz --product trove-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
mkdir -p .build-fuzz/findings "Fuzz/Corpus/$target"
TROVE_FUZZ_TARGET="$target" "$(swift build --package-path Fuzz --scratch-path .build-fuzz --show-bin-path)/trove-fuzz" \
    -max_total_time="$seconds" -max_len=4096 -artifact_prefix=.build-fuzz/findings/ "$@" "Fuzz/Corpus/$target"
