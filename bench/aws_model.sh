#!/usr/bin/env bash
# The AWS model (`ferry plan`, docs/aws-model.md) on a wide foreach, Map form against Batch
# array form, written to bench/aws_model.md.
#
# bench/flows/foreach_bench_flow.py: start -> body (foreach) -> join -> end. For each WIDTH and
# each compute (EC2 with running instances, Fargate), `ferry plan --json` simulates TRIALS runs
# of both compiled forms with tasks of TASK_SECONDS and the Map's MaxConcurrency at its most
# (--max-workers 10000, so the Map is not held back by a small --max-workers), and the table
# gives SubmitJob calls, state transitions, modelled time from the fan-out until every body task
# runs and from the start until the run ends (p50), request cost, and the array/Map ratios.
#
# Env: FERRY_BIN_DIR (default target/debug; `cargo build -p ferry-cli`), FERRY_TOOLS (.tools),
#      WIDTHS ("1000 10000 100000"), TRIALS (21), TASK_SECONDS (60), SEED (1), OUT (bench/aws_model.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${FERRY_BIN_DIR:-$root/target/debug}
tools=${FERRY_TOOLS:-$root/.tools}
widths=${WIDTHS:-"1000 10000 100000"}
trials=${TRIALS:-21}
task_seconds=${TASK_SECONDS:-60}
seed=${SEED:-1}
out=${OUT:-$root/bench/aws_model.md}
flow="$root/bench/flows/foreach_bench_flow.py"
[ -x "$bin/ferry" ] || { echo "missing $bin/ferry: cargo build -p ferry-cli" >&2; exit 1; }
export PATH="$tools/venv/bin:$PATH"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for compute in ec2 fargate; do
  for w in $widths; do
    echo "plan: $compute, width $w" >&2
    "$bin/ferry" --json plan "$flow" --width "$w" --compute "$compute" --max-workers 10000 \
      --trials "$trials" --task-seconds "$task_seconds" --seed "$seed" > "$work/$compute-$w.json"
  done
done

python3 - "$work" "$out" "$trials" "$task_seconds" "$seed" "$widths" <<'PY'
import json, sys, os
work, out, trials, task_seconds, seed, widths = sys.argv[1:]
widths = [int(w) for w in widths.split()]

def load(compute, w):
    v = json.load(open(os.path.join(work, f"{compute}-{w}.json")))
    return {p["foreach_mode"]: p["plan"] for p in v["plans"]}

def submits(p):
    return p["api_calls"]["batch"]["SubmitJob"]

lines = [
    "# The AWS model: a wide foreach as a Map and as Batch array jobs",
    "",
    "Produced by `bench/aws_model.sh` (`ferry plan --json`, the model of `docs/aws-model.md`) on",
    "`bench/flows/foreach_bench_flow.py` (start → body × width → join → end), tasks of",
    f"{task_seconds} s, {trials} simulated runs per figure (seed {seed}), the Map at its widest",
    "(`--max-workers 10000`: a distributed Map), no bound on running containers. Times are p50",
    "seconds: \"all started\" from the fan-out (the foreach task has ended) until every body task",
    "runs, \"completed\" from the execution's start; cost is Step Functions Standard transitions at",
    "$0.025 per 1,000 (Batch requests are free; compute is left out). Ratios are array / Map.",
    "",
]
targets = []
for compute in ["ec2", "fargate"]:
    title = {"ec2": "Batch on running EC2 instances", "fargate": "Batch on Fargate"}[compute]
    lines += [f"## {title}", "",
              "| width | form | SubmitJob | transitions | all started (s) | completed (s) | cost ($) |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    for w in widths:
        plans = load(compute, w)
        m, a = plans["map"], plans["array"]
        for name, p in [("Map", m), ("array", a)]:
            lines.append(
                f"| {w:,} | {name} | {submits(p):,} | {p['state_transitions']:,} | "
                f"{p['all_tasks_started']['p50_s']:,.0f} | {p['completed']['p50_s']:,.0f} | "
                f"{p['cost']['step_functions_usd']:.4f} |")
        r = lambda f: f(a) / f(m)
        lines.append(
            f"| {w:,} | **ratio** | {r(submits):.5f} | {r(lambda p: p['state_transitions']):.5f} | "
            f"{r(lambda p: p['all_tasks_started']['p50_s']):.3f} | "
            f"{r(lambda p: p['completed']['p50_s']):.3f} | "
            f"{r(lambda p: p['cost']['step_functions_usd']):.5f} |")
        if w == 10_000:
            targets.append((title, r(lambda p: p['all_tasks_started']['p50_s']),
                            r(lambda p: p['cost']['step_functions_usd'])))
    lines.append("")

lines += ["## The issue's targets (10,000 items)", "",
          "Target: the array form's modelled time to all tasks started under 1/20 (0.05) of the",
          "Map form's, and its request cost under 1/100 (0.01).", "",
          "| compute | started ratio | met | cost ratio | met |", "|---|---:|---|---:|---|"]
for title, started, cost in targets:
    lines.append(f"| {title} | {started:.3f} | {'yes' if started < 0.05 else 'no'} | "
                 f"{cost:.5f} | {'yes' if cost < 0.01 else 'no'} |")
lines += ["",
          "Why the time target is not met, by the model's own figures: 1/20 of the Map form's",
          "~200 s SubmitJob floor (10,000 calls at the hard 50/s) is 10 s, less than the slowest",
          "of 10,000 array children needs to be dispatched and started (the maximum of 10,000",
          "draws of the dispatch and container-start latencies, about 2 minutes on EC2 with the",
          "assumed distributions). On Fargate both forms wait on the account's task launch bucket",
          "(100, then 20 per second: 10,000 containers take at least ~500 s whatever submits",
          "them), so the forms start alike there. What the array form removes is the SubmitJob",
          "floor and the child executions: at 100,000 items on EC2 it starts every task about 10x",
          "sooner, and the quota is account-wide, so other flows submitting at the same time slow",
          "the Map form further but hardly touch the array form (one call per 10,000 items).",
          "The cost target is met at every width: transitions no longer grow with the width.",
          ""]
open(out, "w").write("\n".join(lines))
print(out)
PY
