#!/usr/bin/env python3
"""Load driver for the metadata API: replays the metaflow client's call mix and prints
throughput and latency per route.

Each simulated run does what `python flow.py run` does against the service (contract
metadata-api.md §4): create the flow (409 after the first) and the run; per step, create the
step; per task, create it, post its system metadata twice, beat, post attempt_ok/attempt-done and
an artifact batch; beat the run. Then the client-API reads: the run, its steps, each step's tasks,
a task's metadata and artifacts, an artifact by name, and `filtered_tasks`.

Usage:
  bench/metadata_load.py --url http://127.0.0.1:8080 [--runs 20 --fanout 10 --workers 8]
  bench/metadata_load.py --spawn target/release/metadata-api   # start it over a temp SQLite file,
                                  # and also report time to first request and RSS (rest / after)
Only 127.0.0.1 servers are meant to be targeted.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

SYS_TAGS = ["runtime:dev", "user:bench", "metaflow_version:2.19.39", "python_version:3.11.7"]


class Client:
    """A tiny HTTP client recording latency per route template."""

    def __init__(self, base, key, stats, lock):
        self.base, self.key, self.stats, self.lock = base.rstrip("/"), key, stats, lock

    def call(self, method, path, route, body=None):
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if body is not None and not isinstance(body, str):
            req.add_header("Content-Type", "application/json")
        if self.key:
            req.add_header("x-api-key", self.key)
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        dt = time.perf_counter() - t0
        with self.lock:
            self.stats[f"{method} {route}"].append(dt)
        return status, (json.loads(text) if text[:1] in (b"{", b"[", b'"') else text)


def one_run(c, flow, fanout):
    c.call("POST", f"/flows/{flow}", "/flows/{f}", {"flow_id": flow, "ts_epoch": 1})
    _, run = c.call("POST", f"/flows/{flow}/run", "/flows/{f}/run",
                    {"flow_id": flow, "user_name": "bench", "tags": ["load"], "system_tags": SYS_TAGS})
    r = run["run_number"]
    rb = f"/flows/{flow}/runs/{r}"
    c.call("POST", f"{rb}/heartbeat", "/runs/{r}/heartbeat", "{}")
    tasks = []
    for step, n in (("start", 1), ("fan", fanout), ("join", 1), ("end", 1)):
        st, _ = c.call("GET", f"{rb}/steps/{step}", "/steps/{s}")
        if st == 404:
            c.call("POST", f"{rb}/steps/{step}/step", "/steps/{s}/step",
                   {"user_name": "bench", "tags": ["load"], "system_tags": SYS_TAGS})
        for i in range(n):
            _, t = c.call("POST", f"{rb}/steps/{step}/task", "/steps/{s}/task",
                          {"user_name": "bench", "tags": ["load"], "system_tags": SYS_TAGS})
            tid = t["task_id"]
            tb = f"{rb}/steps/{step}/tasks/{tid}"
            md = lambda f, v: {"field_name": f, "type": f, "value": v, "tags": ["attempt_id:0"], "user_name": "bench"}
            sysmd = [md(k, v) for k, v in (("runtime", "dev"), ("python_version", "3.11.7"), ("user", "bench"),
                                            ("metaflow_version", "2.19.39"), ("script-name", "flow.py"))]
            c.call("POST", f"{tb}/metadata", "/tasks/{t}/metadata", sysmd)
            c.call("POST", f"{tb}/metadata", "/tasks/{t}/metadata", sysmd)
            c.call("POST", f"{tb}/metadata", "/tasks/{t}/metadata",
                   [md("attempt", "0"), md("origin-run-id", "None"), md("ds-type", "local"), md("ds-root", "/tmp/x"),
                    md("foreach-indices", f"[{i}]")])
            c.call("POST", f"{tb}/heartbeat", "/tasks/{t}/heartbeat", "{}")
            c.call("POST", f"{tb}/metadata", "/tasks/{t}/metadata", [md("attempt_ok", "True")])
            c.call("POST", f"{tb}/metadata", "/tasks/{t}/metadata", [md("attempt-done", "0")])
            arts = [{"name": n, "attempt_id": 0, "sha": f"{n}{tid}", "type": "metaflow.artifact",
                     "content_type": "pickle-v4", "ds_type": "local", "location": ":root:/tmp/x", "user_name": "bench"}
                    for n in ("name", "_task_ok", "_success", "_graph_info", "x")]
            c.call("POST", f"{tb}/artifact", "/tasks/{t}/artifact", arts)
            tasks.append((step, tid))
    c.call("POST", f"{rb}/heartbeat", "/runs/{r}/heartbeat", "{}")
    # Client-API reads.
    c.call("GET", f"/flows/{flow}/runs", "/flows/{f}/runs")
    c.call("GET", rb, "/runs/{r}")
    c.call("GET", f"{rb}/steps", "/runs/{r}/steps")
    for step in ("start", "fan", "join", "end"):
        c.call("GET", f"{rb}/steps/{step}/tasks", "/steps/{s}/tasks")
    for step, tid in tasks[:3]:
        tb = f"{rb}/steps/{step}/tasks/{tid}"
        c.call("GET", tb, "/tasks/{t}")
        c.call("GET", f"{tb}/metadata", "/tasks/{t}/metadata")
        c.call("GET", f"{tb}/artifacts", "/tasks/{t}/artifacts")
        c.call("GET", f"{tb}/artifacts/x", "/tasks/{t}/artifacts/{name}")
    c.call("GET", f"{rb}/steps/fan/filtered_tasks", "/steps/{s}/filtered_tasks")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--spawn", help="metadata-api binary to start over a temp SQLite file")
    ap.add_argument("--key", default=os.environ.get("METAFLOW_SERVICE_AUTH_KEY"))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--fanout", type=int, default=10)
    ap.add_argument("--workers", type=int, default=8)
    a = ap.parse_args()
    proc = None
    if a.spawn:
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        tmp = tempfile.mkdtemp()
        t0 = time.perf_counter()
        proc = subprocess.Popen([a.spawn, "--listen", f"127.0.0.1:{port}", "--sqlite", f"{tmp}/md.sqlite"],
                                stdout=subprocess.DEVNULL)
        a.url = f"http://127.0.0.1:{port}"
        while True:
            try:
                urllib.request.urlopen(a.url + "/ping").read()
                break
            except OSError:
                time.sleep(0.002)
        print(f"time to first request: {(time.perf_counter() - t0) * 1000:.1f} ms")
        time.sleep(0.5)
        print(f"RSS at rest: {rss_kb(proc.pid) / 1024:.1f} MiB")
    assert a.url, "--url or --spawn"
    stats, lock = defaultdict(list), threading.Lock()
    flow = f"LoadFlow{int(time.time())}"
    t0 = time.perf_counter()
    with ThreadPoolExecutor(a.workers) as ex:
        list(ex.map(lambda i: one_run(Client(a.url, a.key, stats, lock), flow, a.fanout), range(a.runs)))
    wall = time.perf_counter() - t0
    total = sum(len(v) for v in stats.values())
    print(f"{total} requests in {wall:.2f} s with {a.workers} workers: {total / wall:.0f} req/s")
    print(f"{'route':48} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for route, xs in sorted(stats.items()):
        xs = sorted(xs)
        p99 = xs[min(len(xs) - 1, int(len(xs) * 0.99))]
        print(f"{route:48} {len(xs):6} {statistics.median(xs) * 1000:8.2f} {p99 * 1000:8.2f}")
    if proc:
        print(f"RSS after load: {rss_kb(proc.pid) / 1024:.1f} MiB")
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
