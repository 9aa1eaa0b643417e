"""Event publish -> execution started, on the embedded stack, against a direct start.

Starts `ferry up` on a fresh home, deploys examples/event_report_flow.py (`@trigger` on
`data_ready`), then N times, interleaved so both see the same machine load:
  event:  POST /ferry/v1/events {"name": "data_ready", "id": <unique>, "payload": {"date": ...}}
          the stack's engine matches, maps `date` -> `day`, dedupes and starts the run; the
          answer comes once `Executions::start` returned (the run exists);
  direct: POST /ferry/v1/state-machines/<sm>/executions with the same parameters: what
          `ferry trigger` does once it has the deployment, without the CLI process.
Each measured from the request to the answer, then checked: the execution exists and is named
as the answer says. Prints p50/p90/p99/max of both and the event/direct ratios.

Usage: python bench/events_start.py [N]   (default 200; FERRY_BIN_DIR, default target/debug)
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("FERRY_BIN_DIR", ROOT / "target" / "debug"))
FLOW = ROOT / "examples" / "event_report_flow.py"
STATE_MACHINE = "DailySalesReportFlow"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(url: str, body: dict) -> tuple[int, dict, float]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:
        answer = json.load(r)
        status = r.status
    return status, answer, (time.perf_counter() - t0) * 1000.0


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    work = Path(tempfile.mkdtemp(prefix="ferry-events-bench-"))
    env = dict(os.environ)
    env.update(
        FERRY_HOME=str(work / "home"),
        METAFLOW_HOME=str(work / "mf"),
        USER=env.get("USER", "bench"),
        METAFLOW_USER=env.get("METAFLOW_USER", "bench"),
        PATH=f"{BIN}:{ROOT / '.tools' / 'venv' / 'bin'}:{env['PATH']}",
    )
    port = free_port()
    up = subprocess.Popen(
        [str(BIN / "ferry"), "up", "--port", str(port), "--max-workers", "2", "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "up.log", "w"),
    )
    try:
        stack = work / "home" / "stack.json"
        for _ in range(600):
            if stack.exists():
                break
            time.sleep(0.1)
        base = json.loads(stack.read_text())["url"].rstrip("/")
        subprocess.run(
            [str(BIN / "ferry"), "deploy", str(FLOW)], env=env, check=True, stdout=subprocess.DEVNULL
        )
        event_ms, direct_ms = [], []
        for i in range(n):
            day = f"2026-12-{i % 28 + 1:02d}"
            status, answer, ms = post(
                f"{base}/ferry/v1/events",
                {"name": "data_ready", "id": f"bench-{i}", "payload": {"date": day}},
            )
            started = [d for d in answer["deployments"] if d.get("started")]
            assert status == 202 and len(started) == 1, answer
            name = started[0]["execution_name"]
            assert get(f"{base}/ferry/v1/executions/{name}")["name"] == name
            event_ms.append(ms)

            params = json.dumps({"day": day})
            status, answer, ms = post(
                f"{base}/ferry/v1/state-machines/{STATE_MACHINE}/executions",
                {"input": json.dumps({"Parameters": params}), "name": f"direct-{i}"},
            )
            assert status == 201, answer
            assert get(f"{base}/ferry/v1/executions/direct-{i}")["name"] == f"direct-{i}"
            direct_ms.append(ms)
    finally:
        up.terminate()
        up.wait(timeout=60)

    load = open("/proc/loadavg").read().split()[:3]
    print(f"event publish -> execution started, embedded stack, {n} of each, load {' '.join(load)}")
    print(f"{'':8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean ms':>8}")
    for label, xs in (("event", event_ms), ("direct", direct_ms)):
        print(
            f"{label:8} {pct(xs, 50):8.1f} {pct(xs, 90):8.1f} {pct(xs, 99):8.1f} "
            f"{max(xs):8.1f} {statistics.mean(xs):8.1f}"
        )
    print(
        "event/direct: p50 %.2fx, p99 %.2fx"
        % (pct(event_ms, 50) / pct(direct_ms, 50), pct(event_ms, 99) / pct(direct_ms, 99))
    )


if __name__ == "__main__":
    main()
