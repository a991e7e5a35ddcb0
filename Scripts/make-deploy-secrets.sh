#!/usr/bin/env bash
# Writes the secrets the deployments in Deploy/ need, with openssl, into Deploy/secrets/:
#   ca.crt, ca.key     a private CA (ca.key stays here: it is only needed to issue certificates)
#   tls.crt, tls.key   one certificate for every service, server and client, signed by the CA
#   service_key        the secret the services call each other with (trove_ + 32 random bytes)
# Does nothing when they are all there; --force writes new ones (restart the services after).
#
#   Scripts/make-deploy-secrets.sh [--force] [--san NAME]...   --san adds a DNS name to the certificate
#
# Kubernetes: create the Secrets from these files, e.g.
#   kubectl -n NS create secret generic trove-tls --from-file=tls.crt=Deploy/secrets/tls.crt \
#     --from-file=tls.key=Deploy/secrets/tls.key --from-file=ca.crt=Deploy/secrets/ca.crt
#   kubectl -n NS create secret generic trove-service-key --from-file=service_key=Deploy/secrets/service_key
set -euo pipefail
cd "$(dirname "$0")/.."

force=0
extra_names=()
while (($#)); do
  case "$1" in
    --force) force=1 ;;
    --san) extra_names+=("${2:?--san needs a name}"); shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

dir=Deploy/secrets
files=(ca.crt ca.key tls.crt tls.key service_key)
present=0
for file in "${files[@]}"; do
  [ -s "$dir/$file" ] && present=$((present + 1))
done
if [ "$force" -eq 0 ] && [ "$present" -eq "${#files[@]}" ]; then
  echo "$dir already holds ${files[*]}: nothing to do (--force makes new ones)"
  exit 0
fi
if [ "$force" -eq 0 ] && [ "$present" -gt 0 ]; then
  echo "$dir holds only some of ${files[*]}: run with --force to make a new set" >&2
  exit 1
fi
command -v openssl >/dev/null || { echo "openssl is not installed (apt-get install openssl)" >&2; exit 1; }

# Every host name a service is dialled by, plus loopback for health checks inside a container.
names=(ingestion object-storage metadata embedding vector-search localhost "${extra_names[@]}")
san="IP:127.0.0.1"
for name in "${names[@]}"; do
  san="$san,DNS:$name"
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ec_key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

openssl req -x509 "${ec_key[@]}" -keyout "$work/ca.key" -out "$work/ca.crt" -days 3650 \
  -subj "/CN=Trove deployment CA" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -new "${ec_key[@]}" -keyout "$work/tls.key" -out "$work/tls.csr" -subj "/CN=trove" 2>/dev/null
cat >"$work/leaf.ext" <<EOF
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = $san
EOF
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
  -set_serial "0x$(openssl rand -hex 16)" -days 825 -extfile "$work/leaf.ext" -out "$work/tls.crt" 2>/dev/null
openssl verify -CAfile "$work/ca.crt" "$work/tls.crt" >/dev/null

# 32 random bytes, base64url without padding.
printf 'trove_%s' "$(openssl rand 32 | base64 -w0 | tr '+/' '-_' | tr -d '=')" >"$work/service_key"

mkdir -p "$dir"
# The directory keeps other users out. The files the containers mount stay readable (0644):
# Compose bind-mounts secret files with their host owner and mode, and trove runs as uid 10001.
chmod 0700 "$dir"
for file in "${files[@]}"; do
  install -m 0644 "$work/$file" "$dir/$file"
done
chmod 0600 "$dir/ca.key"

echo "wrote ${files[*]} to $dir"
openssl x509 -in "$dir/tls.crt" -noout -enddate -ext subjectAltName | sed 's/^/  /'
