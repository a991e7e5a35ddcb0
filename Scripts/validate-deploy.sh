#!/usr/bin/env bash
# Checks the deployment files offline (no Docker engine, no cluster). Runs every check, then
# exits non-zero if any failed:
#   Deploy/k8s/**/*.yaml    kubernetes-validate --strict against the bundled schemas, plus
#                           references between the manifests (labels, volumes, ports, Secrets)
#   docker-compose.yml      check-jsonschema with its bundled compose-spec schema, plus
#                           interpolation and references (volumes, secrets, depends_on, build)
#   Dockerfile              parsed with BuildKit's parser (PyPI dockerfile); stages, COPY sources
# With TROVE_BINARY=path/to/trove, also `trove config check` on each container's configuration.
# Installs kubernetes-validate, check-jsonschema and dockerfile into ./.venv when missing.
#
#   Scripts/validate-deploy.sh [DEPLOY_DIR]     default: Deploy
set -euo pipefail
cd "$(dirname "$0")/.."

deploy_dir="${1:-Deploy}"
# Kubernetes versions to validate against (bundled by kubernetes-validate); TROVE_K8S_VERSIONS overrides.
kubernetes_versions=(${TROVE_K8S_VERSIONS:-1.35.0 1.37.0})
# Compose interpolation needs values; these are dummies, only for validation.
export MINIO_ROOT_USER="${MINIO_ROOT_USER:-trove}"
export MINIO_ROOT_PASSWORD="${MINIO_ROOT_PASSWORD:-validation-only}"

[ -x .venv/bin/python ] || python3 -m venv --system-site-packages .venv
if ! .venv/bin/python -c "import kubernetes_validate, check_jsonschema, dockerfile, yaml" 2>/dev/null; then
  echo "installing Python packages into .venv: kubernetes-validate check-jsonschema dockerfile pyyaml"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate>=1.37" "check-jsonschema>=0.29" dockerfile pyyaml
fi

failed=0
run() { # prints the command's output; records a failure without stopping the other checks
  "$@" || failed=1
}

mapfile -t manifests < <(find "$deploy_dir/k8s" -name '*.yaml' -o -name '*.yml' | sort)
compose="$deploy_dir/docker-compose.yml"
dockerfile="$deploy_dir/Dockerfile"

for version in "${kubernetes_versions[@]}"; do
  echo "== kubernetes-validate --strict, Kubernetes $version: ${#manifests[@]} files in $deploy_dir/k8s"
  run .venv/bin/kubernetes-validate --strict -k "$version" "${manifests[@]}"
done
echo "== compose-spec schema (check-jsonschema vendor.compose-spec): $compose"
run .venv/bin/check-jsonschema --builtin-schema vendor.compose-spec "$compose"

echo "== references and interpolation: ${#manifests[@]} manifests, $compose, $dockerfile"
run .venv/bin/python - "$compose" "$dockerfile" "${manifests[@]}" <<'PY'
import os, re, sys
import dockerfile, yaml

compose_path, dockerfile_path, manifest_paths = sys.argv[1], sys.argv[2], sys.argv[3:]
errors, notes, counts = [], [], {}

def error(where, message):
    if f"{where}: {message}" not in errors:
        errors.append(f"{where}: {message}")

# --- docker-compose.yml: interpolation as Compose does it, then references.
compose_dir = os.path.dirname(os.path.abspath(compose_path))
compose = yaml.safe_load(open(compose_path))  # resolves anchors and << merge keys
token = re.compile(r"\$(\$|\{([^}]*)\}|[A-Za-z_][A-Za-z0-9_]*|.?)", re.S)
braced = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$", re.S)

def interpolate(value, where):
    def substitute(match):
        whole, inner = match.group(1), match.group(2)
        if whole == "$":
            return "$"
        if inner is None:
            if re.match(r"[A-Za-z_]", whole):
                return os.environ.get(whole, "")
            error(where, f"invalid interpolation '{match.group(0)}' (write $$ for a literal $)")
            return ""
        parts = braced.match(inner)
        if not parts:
            error(where, f"invalid interpolation '${{{inner}}}'")
            return ""
        name, operator, argument = parts.groups()
        value = os.environ.get(name)
        unset_or_empty = not value if operator and operator.startswith(":") else value is None
        if operator in (":?", "?") and unset_or_empty:
            error(compose_path, f"required variable {name} is not set: {argument}")
        if operator in (":-", "-") and unset_or_empty:
            return argument
        if operator in (":+", "+"):
            return "" if unset_or_empty else argument
        return value or ""
    return token.sub(substitute, value)

def walk(node, where):
    if isinstance(node, dict):
        return {key: walk(value, f"{where}.{key}" if where else key) for key, value in node.items()}
    if isinstance(node, list):
        return [walk(value, f"{where}[{i}]") for i, value in enumerate(node)]
    return interpolate(node, f"{compose_path}: {where}") if isinstance(node, str) else node

compose = walk(compose, "")
services = compose.get("services") or {}
top_volumes = set(compose.get("volumes") or {})
top_secrets = compose.get("secrets") or {}
for name, service in services.items():
    where = f"{compose_path}: services.{name}"
    for volume in service.get("volumes") or []:
        source = volume.get("source") if isinstance(volume, dict) else volume.split(":")[0] if ":" in volume else None
        kind = volume.get("type", "volume") if isinstance(volume, dict) else "volume"
        if source and kind == "volume" and not source.startswith((".", "/", "~")) and source not in top_volumes:
            error(where, f"volume '{source}' is not declared under top-level volumes")
    for secret in service.get("secrets") or []:
        source = secret.get("source") if isinstance(secret, dict) else secret
        if source not in top_secrets:
            error(where, f"secret '{source}' is not declared under top-level secrets")
    depends = service.get("depends_on") or []
    for other in (depends if isinstance(depends, list) else depends.keys()):
        if other not in services:
            error(where, f"depends_on names '{other}', which is not a service")
    build = service.get("build")
    if isinstance(build, dict):
        context = os.path.normpath(os.path.join(compose_dir, build.get("context", ".")))
        if not os.path.isdir(context):
            error(where, f"build context {context} does not exist")
        elif not os.path.isfile(os.path.join(context, build.get("dockerfile", "Dockerfile"))):
            error(where, f"Dockerfile {build.get('dockerfile')} not found in {context}")
for name, secret in top_secrets.items():
    path = os.path.normpath(os.path.join(os.path.dirname(compose_path), secret.get("file", "")))
    if "file" in secret and not os.path.exists(path):
        notes.append(f"secret {name}: {path} is not there yet (Scripts/make-deploy-secrets.sh writes it)")
counts["compose services"] = len(services)

# --- Dockerfile: BuildKit's parser, then stages and COPY sources.
known = {"FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
         "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
context = os.path.dirname(os.path.dirname(os.path.abspath(dockerfile_path)))  # repository root
stages = set()
try:
    commands = dockerfile.parse_file(dockerfile_path)
except dockerfile.GoParseError as exc:
    commands = []
    error(dockerfile_path, f"does not parse: {exc}")
for command in commands:
    where = f"{dockerfile_path}:{command.start_line}"
    if command.cmd not in known:
        error(where, f"unknown instruction {command.cmd}")
    elif not command.value:
        error(where, f"{command.cmd} has no arguments")
    elif command.cmd == "FROM":
        if len(command.value) == 3 and command.value[1].upper() == "AS":
            stages.add(command.value[2])
    elif command.cmd == "COPY":
        source_stage = next((flag.split("=", 1)[1] for flag in command.flags if flag.startswith("--from=")), None)
        if source_stage is not None:
            if source_stage not in stages:
                error(where, f"COPY --from={source_stage}: no earlier stage has that name")
        else:
            for source in command.value[:-1]:
                if not os.path.exists(os.path.join(context, source)):
                    error(where, f"COPY source {source} is not in the build context {context}")
    elif command.cmd in ("CMD", "ENTRYPOINT") and not command.json:
        error(where, f"{command.cmd} should use the JSON form")
counts["Dockerfile instructions"] = len(commands)

# --- Kubernetes: references between the manifests.
documents = []
for path in manifest_paths:
    for document in yaml.safe_load_all(open(path)):
        if document:
            documents.append((path, document))
by_kind = {}
for path, document in documents:
    by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = (path, document)
workloads = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}
config_maps, secrets = by_kind.get("ConfigMap", {}), by_kind.get("Secret", {})

def secret_keys(name):
    secret = secrets[name][1]
    return set(secret.get("data") or {}) | set(secret.get("stringData") or {})

for name, (path, document) in config_maps.items():
    for key, text in (document.get("data") or {}).items():
        if key.endswith((".yaml", ".yml")):
            try:
                yaml.safe_load(text)
            except yaml.YAMLError as exc:
                error(f"{path}: ConfigMap {name}", f"{key} is not valid YAML: {exc}")

for name, (path, workload) in workloads.items():
    where = f"{path}: {workload['kind']} {name}"
    spec, pod = workload["spec"], workload["spec"]["template"]
    labels = pod["metadata"].get("labels") or {}
    for key, value in spec["selector"].get("matchLabels", {}).items():
        if labels.get(key) != value:
            error(where, f"selector {key}={value} does not match the pod template's labels")
    volumes = {volume["name"]: volume for volume in pod["spec"].get("volumes") or []}
    claims = {claim["metadata"]["name"] for claim in spec.get("volumeClaimTemplates") or []}
    for volume in volumes.values():
        if "configMap" in volume and volume["configMap"]["name"] not in config_maps:
            error(where, f"volume {volume['name']}: no ConfigMap {volume['configMap']['name']}")
        if "secret" in volume and volume["secret"]["secretName"] not in secrets:
            error(where, f"volume {volume['name']}: no Secret {volume['secret']['secretName']}")
    if workload["kind"] == "StatefulSet" and spec.get("serviceName") not in by_kind.get("Service", {}):
        error(where, f"serviceName {spec.get('serviceName')} is not a Service here")
    for container in pod["spec"]["containers"]:
        mount_paths = set()
        for mount in container.get("volumeMounts") or []:
            if mount["name"] not in volumes and mount["name"] not in claims:
                error(where, f"volumeMount {mount['name']} has no volume or volumeClaimTemplate")
            if mount["mountPath"] in mount_paths:
                error(where, f"two mounts at {mount['mountPath']}")
            mount_paths.add(mount["mountPath"])
            volume = volumes.get(mount["name"], {})
            if "subPath" in mount and "configMap" in volume and volume["configMap"]["name"] in config_maps:
                data = config_maps[volume["configMap"]["name"]][1].get("data") or {}
                if mount["subPath"] not in data:
                    error(where, f"subPath {mount['subPath']} is not a key of ConfigMap {volume['configMap']['name']}")
        for variable in container.get("env") or []:
            reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
            if reference and (reference["name"] not in secrets or reference["key"] not in secret_keys(reference["name"])):
                error(where, f"env {variable['name']}: no key {reference['key']} in Secret {reference['name']}")

for name, (path, service) in by_kind.get("Service", {}).items():
    where = f"{path}: Service {name}"
    selector = service["spec"].get("selector") or {}
    targets = [w for w in workloads.values()
               if all((w[1]["spec"]["template"]["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())]
    if not targets:
        error(where, f"selector {selector} matches no Deployment or StatefulSet")
        continue
    port_names = {port.get("name") for _, w in targets for c in w["spec"]["template"]["spec"]["containers"] for port in c.get("ports") or []}
    for port in service["spec"]["ports"]:
        if isinstance(port.get("targetPort"), str) and port["targetPort"] not in port_names:
            error(where, f"targetPort {port['targetPort']} is not a named container port")
counts["Kubernetes resources"] = len(documents)

# --- With a trove binary: `trove config check` on each container's configuration, as trove
# reads it, with the secret files replaced by stand-ins in a temporary directory.
binary = os.environ.get("TROVE_BINARY")
if binary:
    import subprocess, tempfile
    with tempfile.TemporaryDirectory() as stand_ins:
        def stand_in(text):
            for prefix in ("/etc/trove/", "/run/secrets/"):
                text = text.replace(prefix, f"{stand_ins}{prefix}")
            for match in re.findall(re.escape(stand_ins) + r"[^\s\"']+", text):
                os.makedirs(os.path.dirname(match), exist_ok=True)
                with open(match, "w") as f:
                    f.write("trove_" + "x" * 43)  # long enough for a service key; TLS files are only opened
            return text
        def check(where, config_text, environment):
            path = os.path.join(stand_ins, "trove.yaml")
            with open(path, "w") as f:
                f.write(stand_in(config_text))
            environment = {key: stand_in(str(value)) for key, value in environment.items()}
            result = subprocess.run([binary, "config", "check", path], capture_output=True, text=True,
                                    env={"PATH": os.environ["PATH"], **environment})
            if result.returncode != 0:
                error(where, (result.stdout + result.stderr).strip().replace(stand_ins, ""))
            counts["configurations checked by trove"] = counts.get("configurations checked by trove", 0) + 1
        for name, (path, workload) in workloads.items():
            pod = workload["spec"]["template"]["spec"]
            config_text = ""
            for volume in pod.get("volumes") or []:
                if "configMap" in volume and volume["configMap"]["name"] in config_maps:
                    config_text = (config_maps[volume["configMap"]["name"]][1].get("data") or {}).get("trove.yaml", config_text)
            for container in pod["containers"]:
                environment = {}
                for variable in container.get("env") or []:
                    source = variable.get("valueFrom") or {}
                    environment[variable["name"]] = variable.get("value", "2" if "resourceFieldRef" in source else "validation-only")
                check(f"{path}: {workload['kind']} {name}", config_text, environment)
        for name, service in services.items():
            if isinstance(service.get("command"), list) and service["command"][:1] == ["serve"]:
                environment = service.get("environment") or {}
                if isinstance(environment, list):
                    environment = dict(item.split("=", 1) for item in environment)
                check(f"{compose_path}: services.{name}", "", {k: "" if v is None else v for k, v in environment.items()})
else:
    notes.append("TROVE_BINARY not set: trove's own configuration check skipped")

for note in notes:
    print(f"note: {note}")
for message in errors:
    print(f"error: {message}")
print(", ".join(f"{count} {what}" for what, count in counts.items()) + f": {len(errors)} errors")
sys.exit(1 if errors else 0)
PY

if [ "$failed" -ne 0 ]; then
  echo "deployment files: INVALID (see above)" >&2
  exit 1
fi
echo "deployment files: valid (${#manifests[@]} Kubernetes manifests, $compose, $dockerfile)"
