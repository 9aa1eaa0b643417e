#!/usr/bin/env bash
# Foreach wall time on the embedded stack.
#
# 1. A 100-wide foreach of trivial Metaflow steps (bench/flows/foreach_bench_flow.py):
#    `ferry deploy` + `ferry trigger` on a fresh `ferry up` (wall time from trigger to SUCCEEDED)
#    against `python flow.py run` (Metaflow's local runtime, same --max-workers), in the same run.
#    Also the CPU time (user + system) each side spends, task processes included: on a machine
#    shared with other work, wall times swing with the load, CPU times much less.
# 2. A 10,000-wide distributed Map of trivial Batch jobs (/bin/true) through the stack's executor,
#    orchestrator and process runner (shared/local/examples/wide_map.rs): wall time and peak RSS.
#    (A 10,000-wide foreach of real Metaflow tasks costs ~1 s of Python start-up per task, i.e.
#    hours on a 2-core machine; part 2 measures what the stack itself adds.)
#
# Env: FERRY_BIN_DIR (default target/debug; build with `cargo build -p ferry-cli -p task-wrapper`),
#      FERRY_TOOLS (default .tools), WIDTH (100), WORKERS (4), WIDE (10000; 0 skips part 2), WIDE_WORKERS (8),
#      CARGO_PROFILE (dev; `release` for optimised figures).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${FERRY_BIN_DIR:-$root/target/debug}
tools=${FERRY_TOOLS:-$root/.tools}
width=${WIDTH:-100}
workers=${WORKERS:-4}
wide=${WIDE:-10000}
wide_workers=${WIDE_WORKERS:-8}
profile=${CARGO_PROFILE:-dev}
flow="$root/bench/flows/foreach_bench_flow.py"

source "$root/bench/lib/embedded.sh"

echo "== 1. ${width}-wide foreach of trivial Metaflow steps, $workers workers"
"$bin/ferry" up --port "$port" --max-workers "$workers" >"$work/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 200); do [ -f "$FERRY_HOME/stack.json" ] && break; sleep 0.1; done
"$bin/ferry" deploy "$flow" --max-workers "$workers" >/dev/null
t0=$(now)
c0=$(cpu_of "$up_pid")
"$bin/ferry" trigger "$flow" --width "$width" --run-id-file "$work/run" >/dev/null
run=$(cat "$work/run")
while :; do
  status=$("$bin/ferry" --json status "$run" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  [ "$status" != RUNNING ] && break
  sleep 0.5
done
t1=$(now)
c1=$(cpu_of "$up_pid")
stack_rss=$(awk '/VmHWM/ {print $2}' "/proc/$up_pid/status")
[ "$status" = SUCCEEDED ] || { echo "run $run ended $status" >&2; exit 1; }
stack_wall=$(python3 -c "print(round($t1 - $t0, 2))")
stack_cpu=$(python3 -c "print(round($c1 - $c0, 2))")

t0=$(now)
local_cpu=$(METAFLOW_DATASTORE_SYSROOT_LOCAL="$work/localrun" python3 -c '
import resource, subprocess, sys
with open(sys.argv[1], "w") as log:
    subprocess.run(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT, check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(round(r.ru_utime + r.ru_stime, 2))' "$work/localrun.log" python3 "$flow" --no-pylint --quiet --metadata local --datastore local \
  run --width "$width" --max-workers "$workers")
t1=$(now)
local_wall=$(python3 -c "print(round($t1 - $t0, 2))")
echo "embedded stack (ferry trigger -> SUCCEEDED): ${stack_wall}s, ${stack_cpu} CPU-s   peak RSS of ferry up: ${stack_rss} KiB"
echo "python flow.py run (Metaflow local runtime): ${local_wall}s, ${local_cpu} CPU-s"
echo "ratio (stack / local): wall $(python3 -c "print(round($stack_wall / $local_wall, 2))")x, CPU $(python3 -c "print(round($stack_cpu / max($local_cpu, 0.01), 2))")x"

[ "$wide" -gt 0 ] || exit 0
echo "== 2. ${wide}-wide distributed Map of /bin/true jobs, $wide_workers workers ($profile build)"
cargo run -q --profile "$profile" -p ferry-local --example wide_map -- "$wide" "$wide_workers"
