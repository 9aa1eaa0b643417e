"""The web UI at scale on the embedded stack: a deployment with 5,000 runs and a run with 10,000
tasks, timed in the UI's JSON API and in Chromium, against the metadata API's own listing of
the same data measured in the same run (the peer).

Setup (bench/ui.sh drives it): `ui_seed HOME N` writes the deployment and N finished executions
through the embedded stack's adapters; then `ferry up` runs on HOME and this script writes the
Metaflow side through the metadata API, as the client does: N runs `sfn-<execution>`, and in the
newest one the steps start, fan (10,000 tasks, each with its `attempt` and `attempt_ok`
metadata), join and end.

Prints a Markdown table of medians (and p90) over repeated calls.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FLOW = "UiBenchFlow"


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read()


def seed_metadata(base, names, tasks, workers):
    call(base, "POST", f"/flows/{FLOW}", {"user_name": "bench"})
    body = lambda rid: {"run_number": rid, "user_name": "bench", "tags": ["bench"], "system_tags": ["user:bench"]}
    t0 = time.time()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda n: call(base, "POST", f"/flows/{FLOW}/run", body(f"sfn-{n}")), names))
    print(f"seeded {len(names)} runs in {time.time() - t0:.1f}s", file=sys.stderr)
    big = f"sfn-{names[-1]}"
    run = f"/flows/{FLOW}/runs/{big}"

    # The tags a Metaflow task carries (the run's user tags and sticky system tags), so task
    # items are as large as a real run's.
    task_body = lambda tid: {
        "task_id": tid, "user_name": "bench", "tags": ["bench"],
        "system_tags": ["user:bench", "runtime:dev", "python_version:3.11.2", "date:2026-12-06",
                        "metaflow_version:2.19.39"],
    }

    def task(step, i):
        tid = f"{step}-{i}"
        call(base, "POST", f"{run}/steps/{step}/task", task_body(tid))
        md = lambda f, v: {"field_name": f, "type": f, "value": v, "tags": ["attempt_id:0"], "user_name": "bench"}
        call(base, "POST", f"{run}/steps/{step}/tasks/{tid}/metadata", [md("attempt", "0")])
        call(base, "POST", f"{run}/steps/{step}/tasks/{tid}/metadata", [md("attempt_ok", "True")])

    t0 = time.time()
    for step in ["start", "fan", "join", "end"]:
        call(base, "POST", f"{run}/steps/{step}/step", {"user_name": "bench"})
        n = tasks if step == "fan" else 1
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda i: task(step, i), range(n)))
    print(f"seeded {tasks + 3} tasks (3 requests each) in {time.time() - t0:.1f}s", file=sys.stderr)
    return big


def first_and_rest(fn, repeat):
    """The first call's time (cold: nothing kept yet) and the times of `repeat` more."""
    t0 = time.perf_counter()
    fn()
    first = (time.perf_counter() - t0) * 1000
    return first, timed(fn, repeat)


def timed(fn, repeat):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def fmt(ms):
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"{statistics.median(ms):.0f} ms (p90 {p90:.0f})"


def browser_times(ui, big, repeat):
    from playwright.sync_api import sync_playwright

    pages = {
        "deployments page (5,000 runs in its strip count)": (ui, '[data-deployment="UiBenchFlow"] .strip a'),
        "runs page of the deployment (page 1 of 5,000)": (f"{ui}runs?deployment={FLOW}", "tr[data-run]"),
        "run page of the 10,000-task run (graph + counts)": (f"{ui}runs/{FLOW}/{big}", '[data-step="fan"][data-tasks="10000"]'),
        "run page with the fan step's tasks (100 of 10,000)": (f"{ui}runs/{FLOW}/{big}/fan", "table.tasks tr[data-task]"),
    }
    out = {}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for name, (url, sel) in pages.items():
            times = []
            loads = []
            for _ in range(repeat):
                pg = b.new_page()
                t0 = time.perf_counter()
                pg.goto(url)
                loads.append((time.perf_counter() - t0) * 1000)
                pg.wait_for_selector(sel, timeout=60_000)
                times.append((time.perf_counter() - t0) * 1000)
                pg.close()
            out[name] = (times, loads)
        b.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="the running stack, http://127.0.0.1:PORT")
    ap.add_argument("--names", required=True, help="file of execution names, oldest first (ui_seed output)")
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    base = args.url.rstrip("/")
    names = [l.strip() for l in Path(args.names).read_text().splitlines() if l.strip()]
    seeded_at = Path(args.names).stat().st_mtime
    big = seed_metadata(base, names, args.tasks, args.workers)
    ui = f"{base}/ui/"
    rows = []
    api = [
        ("UI: GET /ui/api/runs/F/R (10,000 tasks summed per step)", f"/ui/api/runs/{FLOW}/{big}",
         "metadata: GET …/steps/fan/tasks (the 10,000 tasks)", f"/flows/{FLOW}/runs/{big}/steps/fan/tasks"),
        ("UI: GET …/steps/fan/tasks?limit=100", f"/ui/api/runs/{FLOW}/{big}/steps/fan/tasks?limit=100",
         "metadata: GET …/steps/fan/tasks (the 10,000 tasks)", f"/flows/{FLOW}/runs/{big}/steps/fan/tasks"),
        ("UI: GET /ui/api/deployments", "/ui/api/deployments",
         "metadata: GET /flows/F/runs (every run of the flow)", f"/flows/{FLOW}/runs"),
        ("UI: GET /ui/api/runs?deployment=… (50 of 5,000)", f"/ui/api/runs?deployment={FLOW}",
         "metadata: GET /flows/F/runs (every run of the flow)", f"/flows/{FLOW}/runs"),
    ]
    print(f"measuring {time.time() - seeded_at:.0f}s after the executions ended; load average "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}", file=sys.stderr)
    for name, path, peer_name, peer in api:
        first, ours = first_and_rest(lambda: call(base, "GET", path), args.repeat)
        theirs = timed(lambda: call(base, "GET", peer), args.repeat)
        rows.append((name, f"{first:.0f} ms", fmt(ours), peer_name, fmt(theirs),
                     statistics.median(ours) / statistics.median(theirs)))
    pages = browser_times(ui, big, max(3, args.repeat // 2))
    print("| what | first call | time | peer in the same run | peer time | ratio |")
    print("|---|---|---|---|---|---|")
    for name, first, ours, peer_name, theirs, ratio in rows:
        print(f"| {name} | {first} | {ours} | {peer_name} | {theirs} | {ratio:.2f}x |")
    peer = timed(lambda: call(base, "GET", f"/flows/{FLOW}/runs/{big}/steps/fan/tasks"), args.repeat)
    for name, (times, loads) in pages.items():
        print(f"| Chromium: {name}, navigation to drawn (of which shell and scripts loaded: {statistics.median(loads):.0f} ms) | {times[0]:.0f} ms | {fmt(times)} | metadata: GET …/steps/fan/tasks | {fmt(peer)} | {statistics.median(times) / statistics.median(peer):.2f}x |")
    # The run's answers above came within a minute of its execution's end, so its tasks were
    # read on every call (as for a running run). Once it ended a minute ago its per-step counts
    # are kept: the same two answers again.
    wait = seeded_at + 65 - time.time()
    if wait > 0:
        time.sleep(wait)
    for name, path, peer_name, peer_path in api[:2]:
        first, ours = first_and_rest(lambda: call(base, "GET", path), args.repeat)
        theirs = timed(lambda: call(base, "GET", peer_path), args.repeat)
        print(f"| {name}, settled run (ended {time.time() - seeded_at:.0f} s before) | {first:.0f} ms | {fmt(ours)} | {peer_name} | {fmt(theirs)} | {statistics.median(ours) / statistics.median(theirs):.2f}x |")
    print(f"load average after: {' '.join(open('/proc/loadavg').read().split()[:3])}", file=sys.stderr)


if __name__ == "__main__":
    main()
