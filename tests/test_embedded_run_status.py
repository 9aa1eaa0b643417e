"""One truth about run status (issue 11 item 3): for runs of Ferry deployments, the metadata
API's run status, as the real metaflow client reads it, agrees with the execution's status
(`ferry status`) at once, on a stack with one worker:

- a run whose task waits for a worker stays `running` however long its heartbeats are silent
  (metaflow-service's rule would call it `failed` after 6 minutes without one);
- a terminated run, and a run whose task was killed by SIGKILL, read `failed` at once (the
  heartbeat rule would keep them `running` for 6 minutes);
- a succeeded run reads `completed`; the `status` filter of the run listing agrees.

The stack's clock cannot be moved, so the queued case ages the run's heartbeat in the store by
7 minutes, exactly as 7 minutes of waiting would leave it.
"""

import json
import os
import signal
import sqlite3
import time
import urllib.error
import urllib.request

import pytest

from test_embedded_stack import Stack, alive

GATE_FLOW = "EmbeddedGateFlow"
SLEEP_FLOW = "EmbeddedSleepFlow"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry") / "home", max_workers=1)
    s.deploy("embedded_gate_flow.py")
    s.deploy("embedded_sleep_flow.py")
    yield s
    s.stop()


def trigger(stack, deployment: str, *params) -> str:
    """Trigger a deployment by name (no flow export); the run id."""
    run_file = stack.home / f"run-{time.time_ns()}.txt"
    stack.ferry("trigger", deployment, *params, "--run-id-file", run_file)
    return run_file.read_text().strip()


def metadata(stack, path: str):
    """GET a metadata API path of the stack; the parsed JSON."""
    with urllib.request.urlopen(stack.url + path, timeout=30) as r:
        return json.loads(r.read())


def filtered(stack, flow: str, status: str) -> set:
    """The run ids the run listing's `status` filter keeps."""
    return {r["run_number"] for r in metadata(stack, f"/flows/{flow}/runs?status={status}")}


def client_view(stack, flow: str, run_id: str) -> dict:
    """What the real metaflow client reads of a run: the status the service gave it (single
    read and listing), `finished` and `successful`."""
    out = stack.client(
        f"""
import json
from metaflow import Flow, Run, namespace
namespace(None)
r = Run({f"{flow}/{run_id}"!r})
listed = [x for x in Flow({flow!r}).runs() if x.id == {run_id!r}]
print(json.dumps({{
    "status": r._object.get("status"),
    "listed": listed[0]._object.get("status") if listed else None,
    "finished": r.finished,
    "successful": r.successful,
}}))
"""
    )
    return json.loads(out.strip().splitlines()[-1])


def wait_until(what: str, check, timeout: float = 180):
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.time() < deadline, f"{what}: not after {timeout}s"
        time.sleep(0.3)


def run_exists(stack, flow: str, run_id: str) -> bool:
    try:
        metadata(stack, f"/flows/{flow}/runs/{run_id}")
        return True
    except urllib.error.HTTPError as e:
        assert e.code == 404, e
        return False


def waiting_steps(stack, run_id: str) -> list:
    """The steps of the run whose job waits for a worker (`ferry status`)."""
    st = stack.status(run_id)
    return [j["step"] for j in st.get("running") or [] if j.get("started_at") is None]


def age_heartbeats(stack, flow: str, run_id: str, seconds: int) -> None:
    """Move every heartbeat time the store keeps for the run `seconds` into the past: the run's
    heartbeat item, the copy on the run item and its creation time (the state 7 minutes of
    silence leaves; items as `ferry_metadata::layout` keys them, in the SQLite adapter's
    encoding)."""
    db = sqlite3.connect(stack.home / "ferry.db", timeout=30)
    with db:
        (alias,) = db.execute(
            "SELECT attrs FROM items WHERE tbl='default' AND pk=? AND sk=?",
            (f"F#{flow}", f"RA#{run_id}"),
        ).fetchone()
        number = json.loads(alias)["run_number"]["N"]
        for pk, sk in [(f"HB#{flow}#{number}", "R"), (f"F#{flow}", f"R#{number:019}")]:
            row = db.execute(
                "SELECT attrs FROM items WHERE tbl='default' AND pk=? AND sk=?", (pk, sk)
            ).fetchone()
            assert row, (pk, sk)
            attrs = json.loads(row[0])
            for name, scale in [("ts", 1), ("last_heartbeat_ts", 1), ("ts_epoch", 1000)]:
                if name in attrs:
                    attrs[name]["N"] -= seconds * scale
            db.execute(
                "UPDATE items SET attrs=? WHERE tbl='default' AND pk=? AND sk=?",
                (json.dumps(attrs), pk, sk),
            )
    db.close()


def test_a_run_waiting_for_a_worker_reads_running_then_completed(stack, tmp_path):
    gate_b, gate_a = tmp_path / "b", tmp_path / "a"
    try:
        # B's start holds the only worker; A's start queues behind it.
        b = trigger(stack, GATE_FLOW, "--gate", gate_b)
        wait_until("B registered its run", lambda: run_exists(stack, GATE_FLOW, b))
        a = trigger(stack, GATE_FLOW, "--gate", gate_a)
        wait_until("A waits for a worker", lambda: waiting_steps(stack, a) == ["start"])
        # B's start ends: A's start takes the worker (first in line) and B's end waits.
        gate_b.touch()
        wait_until("B's end waits for a worker", lambda: waiting_steps(stack, b) == ["end"])
        assert stack.status(b)["status"] == "RUNNING"

        age_heartbeats(stack, GATE_FLOW, b, 7 * 60)
        view = client_view(stack, GATE_FLOW, b)
        assert view == {"status": "running", "listed": "running", "finished": False, "successful": False}, view
        assert b in filtered(stack, GATE_FLOW, "running")
        assert b not in filtered(stack, GATE_FLOW, "failed")

        gate_a.touch()
        for run in (a, b):
            assert stack.wait(run, timeout=300)["status"] == "SUCCEEDED"
            view = client_view(stack, GATE_FLOW, run)
            assert view == {"status": "completed", "listed": "completed", "finished": True, "successful": True}, view
            assert run in filtered(stack, GATE_FLOW, "completed")
    finally:
        # Whatever failed above, leave the one worker free for the next test.
        gate_b.touch()
        gate_a.touch()


def start_nap(stack, tmp_path) -> tuple:
    """Trigger the sleep flow and wait for its nap step; (run id, [task pid, child pid])."""
    pid_file = tmp_path / f"pids-{time.time_ns()}"
    run_id = trigger(stack, SLEEP_FLOW, "--pid-file", pid_file)
    wait_until("the nap step started", pid_file.exists)
    pids = [int(x) for x in pid_file.read_text().split()]
    view = client_view(stack, SLEEP_FLOW, run_id)
    assert view["status"] == "running" and view["listed"] == "running", view
    return run_id, pids


def assert_failed_at_once(stack, run_id: str) -> None:
    view = client_view(stack, SLEEP_FLOW, run_id)
    assert view == {"status": "failed", "listed": "failed", "finished": False, "successful": False}, view
    assert run_id in filtered(stack, SLEEP_FLOW, "failed")
    assert run_id not in filtered(stack, SLEEP_FLOW, "running")


def stop_nap(stack, run_id: str, pids: list) -> None:
    """Leave nothing of a nap run behind (whatever the test did to it)."""
    if stack.status(run_id)["status"] == "RUNNING":
        stack.ferry("terminate", run_id, check=False)
    for p in pids:
        if alive(p):
            os.kill(p, signal.SIGKILL)


def test_a_terminated_run_reads_failed_at_once(stack, tmp_path):
    run_id, pids = start_nap(stack, tmp_path)
    try:
        stack.ferry("terminate", run_id)
        assert stack.status(run_id)["status"] == "ABORTED"
        assert_failed_at_once(stack, run_id)
    finally:
        stop_nap(stack, run_id, pids)


def test_a_run_whose_task_was_killed_reads_failed_at_once(stack, tmp_path):
    run_id, pids = start_nap(stack, tmp_path)
    try:
        os.kill(pids[0], signal.SIGKILL)
        st = stack.wait(run_id, timeout=120)
        assert st["status"] == "FAILED", st
        assert_failed_at_once(stack, run_id)
    finally:
        stop_nap(stack, run_id, pids)
