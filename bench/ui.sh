#!/usr/bin/env bash
# The web UI at scale on the embedded stack (docs/ui.md "Scale", figures in bench/ui.md):
#   bench/ui.sh [--release] [RUNS] [TASKS]      defaults: 5000 runs, 10000 tasks
# Seeds a deployment with RUNS finished executions (shared/ui/examples/ui_seed.rs), starts
# `ferry up` on that home, writes the Metaflow runs and a TASKS-wide foreach through the
# metadata API, then times the UI's JSON answers and its pages in Chromium against the metadata
# API's own listing of the same data (bench/ui_bench.py). Stops what it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
profile=debug
cargo_flags=()
if [ "${1:-}" = "--release" ]; then
  profile=release
  cargo_flags=(--release)
  shift
fi
runs=${1:-5000}
tasks=${2:-10000}
scripts/setup-tools >/dev/null
cargo build "${cargo_flags[@]}" -p ferry-cli --bin ferry -p ferry-ui --example ui_seed
py="$root/.tools/venv/bin/python"
home=$(mktemp -d)
up_pid=
cleanup() {
  if [ -n "$up_pid" ]; then kill "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  rm -rf "$home"
}
trap cleanup EXIT
echo "ui bench: seeding $runs executions in $home" >&2
"target/$profile/examples/ui_seed" "$home" "$runs" >"$home/names.txt"
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
FERRY_HOME="$home" "target/$profile/ferry" up --port "$port" >"$home/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 300); do
  [ -f "$home/stack.json" ] && break
  sleep 0.1
done
[ -f "$home/stack.json" ] || { cat "$home/up.log" >&2; exit 1; }
echo "ui bench: $profile build, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$py" bench/ui_bench.py --url "http://127.0.0.1:$port" --names "$home/names.txt" --tasks "$tasks"
