#!/usr/bin/env bash
# Installs what building, running and testing Trove needs on a Debian machine that has the
# Swift toolchain: Debian packages with apt, Python packages with pip into ./.venv. Safe to run
# repeatedly; it installs only what is missing.
#
#   Scripts/install-dependencies.sh          what the run command needs
#   Scripts/install-dependencies.sh --test   also what the tests need
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v swift >/dev/null; then
  echo "swift is not on PATH: install the Swift 6.3 toolchain (https://www.swift.org/install/linux/)" >&2
  exit 1
fi

apt_packages=()
# libcurl is the S3 client's transport; pkg-config finds it for the build. OpenBLAS does the
# embedding model's matrix products.
for package in libcurl4-openssl-dev pkg-config libopenblas-dev; do
  dpkg -s "$package" >/dev/null 2>&1 || apt_packages+=("$package")
done
command -v python3 >/dev/null || apt_packages+=(python3 python3-pip python3-venv)
# openssl makes the certificates of the TLS tests (and Scripts/make-deploy-secrets.sh); the
# metrics tests read the metrics port with curl.
command -v openssl >/dev/null || apt_packages+=(openssl)
command -v curl >/dev/null || apt_packages+=(curl)
if ((${#apt_packages[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "installing Debian packages: ${apt_packages[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${apt_packages[@]}"
fi

Scripts/fetch-model.sh  # the built-in embedding model, into .trove-model/ (skipped when present)

if [ "${1:-}" = "--test" ]; then
  # grpcio, grpcio-tools and grpcio-reflection for the interoperability tests; PyYAML, kubernetes-validate,
  # check-jsonschema (with the compose-spec schema) and dockerfile for the deployment files;
  # moto's S3 server (and boto3 to set up its IAM user) and nanio, which also checks presigned
  # URLs and percent-encoded keys, for the S3 backend's tests; numpy and tokenizers for the
  # OpenAI-compatible embeddings server (Tests/Support/openai_embedding_server.py).
  [ -x .venv/bin/python ] || python3 -m venv --system-site-packages .venv
  if ! .venv/bin/python -c "import grpc, grpc_tools, pytest, yaml, boto3, moto.server, flask_cors, nanio, grpc_reflection, kubernetes_validate, check_jsonschema, dockerfile, numpy, tokenizers" 2>/dev/null; then
    echo "installing Python packages into .venv: grpcio grpcio-tools pytest pyyaml boto3 moto[server] nanio grpcio-reflection kubernetes-validate check-jsonschema dockerfile numpy tokenizers"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check grpcio grpcio-tools pytest pyyaml boto3 "moto[server]" nanio grpcio-reflection \
      "kubernetes-validate>=1.37" "check-jsonschema>=0.29" dockerfile numpy tokenizers
  fi
fi
