#!/usr/bin/env bash
# Environment creation from the stored wheels (ferry-pyenv), cold (fresh host cache) and warm
# (reused), against `pip install --no-index --no-deps` of the same locked wheels into a fresh
# venv, and against `uv pip install --offline --no-deps` (uv's own cache emptied), same machine.
#
# Environment: pandas + numpy (+ their dependencies), resolved once from PyPI for this host.
# Usage: bench/pyenv.sh [runs]   (default 3). Needs PyPI for the one-off resolution.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
python="${FERRY_TOOLS:-$root/.tools}/venv/bin/python"
uv="${FERRY_TOOLS:-$root/.tools}/venv/bin/uv"
work=$(mktemp -d /tmp/ferry-pyenv-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

cargo build -q --release -p ferry-pyenv --example pyenv_bench
out=$("$root/target/release/examples/pyenv_bench" "$work" "$python" "$runs" pandas==2.2.3 numpy==2.1.3)
echo "$out" > "$work/result.json"

mapfile -t wheels < <("$python" -c 'import json,sys; [print(w) for w in json.load(open(sys.argv[1]))["wheels"]]' "$work/result.json")
size=$(du -cb "${wheels[@]}" | tail -1 | cut -f1)
echo "environment: ${#wheels[@]} wheels, $((size / 1024 / 1024)) MiB: $(for w in "${wheels[@]}"; do basename "$w"; done | cut -d- -f1,2 | tr '\n' ' ')"

# pip needs real wheel file names: they are the last path segment of each blob key already.
pip_ms=()
uv_ms=()
for i in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  "$python" -m venv --without-pip "$work/pip-$i"
  "$python" -m pip --python "$work/pip-$i/bin/python" install --quiet --disable-pip-version-check \
    --no-index --no-deps "${wheels[@]}"
  pip_ms+=($(( ($(date +%s%N) - start) / 1000000 )))
  start=$(date +%s%N)
  "$python" -m venv --without-pip "$work/uv-$i"
  UV_CACHE_DIR="$work/uv-cache-$i" "$uv" pip install --quiet --offline --no-deps \
    --python "$work/uv-$i/bin/python" "${wheels[@]}"
  uv_ms+=($(( ($(date +%s%N) - start) / 1000000 )))
done
"$work/pip-1/bin/python" -c 'import pandas, numpy' 
"$python" - "$work/result.json" "${pip_ms[*]}" "${uv_ms[*]}" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
pip = [float(x) for x in sys.argv[2].split()]
uv = [float(x) for x in sys.argv[3].split()]
def row(name, xs):
    print(f"{name:<40} median {statistics.median(xs):8.1f} ms   runs {', '.join(f'{x:.0f}' for x in xs)}")
row("ferry cold (fetch+verify+venv+unpack)", r["cold_ms"])
row("ferry warm (reused by lock hash)", r["warm_ms"])
row("pip install --no-index --no-deps", pip)
row("uv pip install --offline --no-deps", uv)
PY
# The Ferry-built environment imports them too.
"$work/cache-0/envs/"*/bin/python -c 'import pandas, numpy; print("ferry env imports pandas", pandas.__version__, "numpy", numpy.__version__)'
