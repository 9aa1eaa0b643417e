#!/usr/bin/env bash
# The task wrapper's own overhead per task vs Metaflow's bash bootstrap, timed the same way.
#
# usage: bench/wrapper_overhead.sh [iterations]      (default 30)
#   TASK_WRAPPER=<path>   the binary to time (default: target/release/task-wrapper if built,
#                         else target/debug/task-wrapper; build with
#                         `cargo build --release -p task-wrapper --no-default-features`)
#
# Both run the same trivial step (`date +%s%N`, which prints when it started) with a package in
# the host cache (wrapper) / a local copy standing in for the S3 download (bootstrap). See
# bench/wrapper_overhead.py for what is measured.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${FERRY_TOOLS:-$root/.tools}
if [ -z "${TASK_WRAPPER:-}" ]; then
  if [ -x "$root/target/release/task-wrapper" ]; then TASK_WRAPPER=$root/target/release/task-wrapper
  else TASK_WRAPPER=$root/target/debug/task-wrapper; fi
fi
[ -x "$TASK_WRAPPER" ] || { echo "no task-wrapper binary at $TASK_WRAPPER: cargo build -p task-wrapper" >&2; exit 1; }
export TASK_WRAPPER
exec "$tools/venv/bin/python" "$root/bench/wrapper_overhead.py" "${1:-30}"
