#!/usr/bin/env bash
# Regenerates Sources/TroveContracts/Generated from Protos/ with swift-protobuf's and
# grpc-swift-protobuf's protoc plugins. The plugins are built from the versions this package
# depends on, in their own scratch folder (about ten minutes the first time), so the generated
# code always matches the runtime it is compiled against. Never run by CI or the run command:
# the generated code is committed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v protoc >/dev/null; then
  echo "protoc not found: apt-get install -y protobuf-compiler" >&2
  exit 1
fi

scratch=.build-protoc
swift build -c release --scratch-path "$scratch" --product protoc-gen-swift
swift build -c release --scratch-path "$scratch" --product protoc-gen-grpc-swift-2
bin=$(swift build -c release --scratch-path "$scratch" --show-bin-path)
root=$(pwd)

out="$root/Sources/TroveContracts/Generated"
rm -rf "$out"
mkdir -p "$out"

protos=$(cd Protos && find . -name '*.proto' | sed 's|^\./||' | sort)
(
  cd Protos
  # shellcheck disable=SC2086
  protoc \
    --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift="$bin/protoc-gen-grpc-swift-2" \
    --swift_out="$out" \
    --swift_opt=Visibility=Public \
    --swift_opt=FileNaming=PathToUnderscores \
    --grpc-swift_out="$out" \
    --grpc-swift_opt=Visibility=Public,Server=true,Client=true,FileNaming=PathToUnderscores \
    $protos
)
echo "generated $(ls "$out" | wc -l) files in ${out#"$root/"}"
