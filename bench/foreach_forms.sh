#!/usr/bin/env bash
# The two foreach forms on the embedded stack: wall time of a WIDTH-wide (default 2,000) foreach
# of trivial Metaflow steps (bench/flows/foreach_bench_flow.py), deployed with
# `--foreach-mode map` and with `--foreach-mode array` on one `ferry up`, paired in the same bench
# run in the order map, array, array, map (ROUNDS pairs; so a load trend hits both forms alike).
# Each measurement is `ferry trigger` -> SUCCEEDED (polling `ferry status` every 0.5 s), with the
# CPU seconds of the stack and its task processes and the load average at the start and the end.
#
# Env: FERRY_BIN_DIR (default target/debug; build with `cargo build -p ferry-cli -p task-wrapper`),
#      FERRY_TOOLS (default .tools), WIDTH (2000), WORKERS (4), ROUNDS (1: map, array, array, map).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${FERRY_BIN_DIR:-$root/target/debug}
tools=${FERRY_TOOLS:-$root/.tools}
width=${WIDTH:-2000}
workers=${WORKERS:-4}
rounds=${ROUNDS:-1}
flow="$root/bench/flows/foreach_bench_flow.py"

source "$root/bench/lib/embedded.sh"
load() { cut -d' ' -f1 /proc/loadavg; }

"$bin/ferry" up --port "$port" --max-workers "$workers" >"$work/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 200); do [ -f "$FERRY_HOME/stack.json" ] && break; sleep 0.1; done

measure() {
  local mode=$1
  "$bin/ferry" deploy "$flow" --foreach-mode "$mode" >/dev/null 2>&1
  local l0 t0 c0 run status t1 c1
  l0=$(load); t0=$(now); c0=$(cpu_of "$up_pid")
  "$bin/ferry" trigger "$flow" --width "$width" --run-id-file "$work/run" >/dev/null
  run=$(cat "$work/run")
  while :; do
    status=$("$bin/ferry" --json status "$run" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [ "$status" != RUNNING ] && break
    sleep 0.5
  done
  t1=$(now); c1=$(cpu_of "$up_pid")
  [ "$status" = SUCCEEDED ] || { echo "$mode run $run ended $status" >&2; exit 1; }
  printf '%-5s %s-wide, %s workers: %6.1f s wall, %7.1f CPU-s, load %s -> %s\n' "$mode" "$width" "$workers" \
    "$(python3 -c "print($t1 - $t0)")" "$(python3 -c "print($c1 - $c0)")" "$l0" "$(load)"
}

echo "== ${width}-wide foreach of trivial Metaflow steps on the embedded stack, $workers workers, $(nproc) cores"
for _ in $(seq 1 "$rounds"); do
  measure map
  measure array
  measure array
  measure map
done
