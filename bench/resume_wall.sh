#!/usr/bin/env bash
# Resume against a full rerun, side by side, on the embedded stack.
#
# bench/flows/resume_bench_flow.py: start -> fanout (foreach over WIDTH) -> body -> join -> train
# -> end, every task sleeping WORK seconds. A first run fails at train. Then, for each WORK:
#   resume: `ferry resume <failed run> --wait` (23 tasks cloned, train and end run);
#   rerun:  `ferry trigger` of the same parameters, waited for (every task runs);
# and the wall times of both (from the command to SUCCEEDED) and their ratio are printed.
#
# Env: FERRY_BIN_DIR (default target/debug; `cargo build -p ferry-cli -p task-wrapper -p metadata-api`),
#      FERRY_TOOLS (default .tools), WIDTH (20), WORKERS (4), WORKS ("0 5": the WORK values).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${FERRY_BIN_DIR:-$root/target/debug}
tools=${FERRY_TOOLS:-$root/.tools}
width=${WIDTH:-20}
workers=${WORKERS:-4}
works=${WORKS:-"0 5"}
flow="$root/bench/flows/resume_bench_flow.py"

source "$root/bench/lib/embedded.sh"
status_of() { "$bin/ferry" --json status "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
wait_end() {
  while :; do
    s=$(status_of "$1")
    [ "$s" != RUNNING ] && { echo "$s"; return; }
    sleep 0.5
  done
}

"$bin/ferry" up --port "$port" --max-workers "$workers" >"$work/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 300); do [ -f "$FERRY_HOME/stack.json" ] && break; sleep 0.1; done
"$bin/ferry" deploy "$flow" --max-workers "$workers" >/dev/null
mkdir -p "$FERRY_HOME/resume-bench"

echo "resume vs full rerun: ${width}-wide foreach, $workers workers, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %-12s %-12s %s\n' "work (s)" "resume (s)" "rerun (s)" "resume/rerun"
for w in $works; do
  touch "$FERRY_HOME/resume-bench/fail-train"
  "$bin/ferry" trigger "$flow" --width "$width" --work "$w" --run-id-file "$work/failed" >/dev/null
  failed=$(cat "$work/failed")
  s=$(wait_end "$failed")
  [ "$s" = FAILED ] || { echo "the first run ended $s, expected FAILED" >&2; exit 1; }
  rm "$FERRY_HOME/resume-bench/fail-train"

  t0=$(now)
  "$bin/ferry" resume "$failed" --wait --run-id-file "$work/resumed" >/dev/null
  t1=$(now)
  t2=$(now)
  "$bin/ferry" trigger "$flow" --width "$width" --work "$w" --run-id-file "$work/rerun" >/dev/null
  s=$(wait_end "$(cat "$work/rerun")")
  t3=$(now)
  [ "$s" = SUCCEEDED ] || { echo "the rerun ended $s" >&2; exit 1; }
  python3 -c "r=$t1-$t0; f=$t3-$t2; print('%-10s %-12.1f %-12.1f %.2f' % ('$w', r, f, r / f))"
done
