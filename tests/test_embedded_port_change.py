"""`ferry up --port` on a home whose deployments were made on another port: the stack hands every
task its current metadata URL (FERRY_METADATA_URL), so a deployment made on port A runs on a
stack restarted on port B without a new deploy, and the run is visible to the metaflow client on
port B. Also checks the task wrapper's own heartbeats (it replaces Metaflow's heartbeat sidecar):
the final beat of a 3-second task lands after the task was registered.

Needs FERRY_BIN_DIR and FERRY_TOOLS, as scripts/test sets them.
"""

import json
import urllib.request

from conftest import free_port
from test_embedded_stack import Stack


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def test_a_deployment_made_on_one_port_runs_on_a_stack_restarted_on_another(tmp_path):
    home = tmp_path / "home"
    a = Stack(home)
    try:
        ns = a.deploy("embedded_port_flow.py")
    finally:
        a.stop()
    port_b = free_port()
    while port_b == a.port:
        port_b = free_port()
    b = Stack(home, port=port_b)
    try:
        assert b.url.endswith(f":{port_b}") and b.url != a.url
        run_id = b.trigger("embedded_port_flow.py")
        st = b.wait(run_id, timeout=600)
        assert st["status"] == "SUCCEEDED", (st, b.ferry("logs", f"EmbeddedPortFlow/{run_id}/start", "--stderr", check=False).stdout)
        out = b.client(
            f"""
import json
from metaflow import Run, namespace
namespace({ns!r})
run = Run("EmbeddedPortFlow/{run_id}")
print(json.dumps({{
    "successful": run.successful,
    "total": run["join"].task["total"].data,
    "service_url": run["start"].task["service_url"].data,
    "squares": sorted(t["sq"].data for t in run["square"]),
    "end_stdout": run["end"].task.stdout,
}}))
"""
        )
        got = json.loads(out.strip().splitlines()[-1])
        assert got["successful"] is True
        assert got["total"] == 25
        assert got["squares"] == [9, 16]
        assert got["service_url"] == b.url, "the step must report to the stack's current URL"
        assert "total 25" in got["end_stdout"]

        # The wrapper's heartbeats: the last one is sent when the step has ended, so for the
        # 3-second `start` it is at least 2 s after the task was registered.
        tasks = get_json(f"{b.url}/flows/EmbeddedPortFlow/runs/{run_id}/steps/start/tasks")
        assert len(tasks) == 1, tasks
        # (A list carries a copy of the heartbeat refreshed now and then; one task, the exact one.)
        t = get_json(f"{b.url}/flows/EmbeddedPortFlow/runs/{run_id}/steps/start/tasks/{tasks[0]['task_id']}")
        assert t["last_heartbeat_ts"] is not None, t
        assert t["last_heartbeat_ts"] >= t["ts_epoch"] // 1000 + 2, t
    finally:
        b.stop()
    assert (home / "last-port").read_text().strip() == str(port_b)
