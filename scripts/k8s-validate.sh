#!/usr/bin/env bash
# Validates deploy/k8s/colorize-indexed-job.yaml offline against the
# Kubernetes API schema (PyPI kubernetes-validate ships the schemas; strict:
# unknown fields are errors), checks that its completions, parallelism and
# --shard N agree, and that the validator does reject a broken copy (so
# this check can fail).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
venv=$COLORIZE_CACHE/k8s-venv
if ! "$venv/bin/kubernetes-validate" --version >/dev/null 2>&1; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q kubernetes-validate==1.37.0
fi
job=deploy/k8s/colorize-indexed-job.yaml
"$venv/bin/kubernetes-validate" --strict --kubernetes-version 1.37.0 "$job"
"$venv/bin/python" - "$job" <<'PY'
import re, sys, yaml
job = yaml.safe_load(open(sys.argv[1]))
spec = job["spec"]
args = spec["template"]["spec"]["containers"][0]["args"]
n = int(re.fullmatch(r"auto/(\d+)", args[args.index("--shard") + 1]).group(1))
assert spec["completionMode"] == "Indexed", spec["completionMode"]
assert spec["completions"] == n, f"completions {spec['completions']} != --shard auto/{n}"
assert spec["parallelism"] <= n
assert "--skip-existing" in args and "--manifest" in args
print(f"k8s: Indexed Job of {n} completions, --shard auto/{n}, --skip-existing, manifest per index")
PY
broken=$(mktemp --suffix=.yaml)
trap 'rm -f "$broken"' EXIT
sed 's/completionMode: Indexed/completionMode: Indexd/; s/^  completions: .*/  completions: sixteen/' "$job" > "$broken"
if "$venv/bin/kubernetes-validate" --strict --kubernetes-version 1.37.0 "$broken" >/dev/null 2>&1; then
    echo "k8s: the validator accepted a broken manifest" >&2
    exit 1
fi
echo "k8s: a broken copy is rejected, as it should be"
