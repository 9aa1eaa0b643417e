"""A run started by an event (the way the event wiring starts it: an execution whose parameters
carry `ferry.triggers`) gets the event's parameter value, `current.trigger` in its start step,
and Metaflow's `execution-triggers` metadata, so the client's `Run.trigger` names the event."""

import json
import urllib.request

import pytest

from conftest import ROOT
from test_embedded_stack import Stack

FLOW = ROOT / "examples" / "event_report_flow.py"
EVENT = {"timestamp": 1764547200, "id": "6f1c7a52-0001", "name": "data_ready", "type": "event"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry-event-start") / "home")
    s.ferry("deploy", FLOW)
    yield s
    s.stop()


def test_an_event_started_run_knows_its_event(stack):
    d = json.loads(stack.ferry("--json", "describe", FLOW).stdout)
    machine = d["state_machine"]["name"]
    parameters = {"day": "2026-12-01", "ferry.triggers": [EVENT]}
    body = json.dumps(
        {"name": "ev-test-0001", "input": json.dumps({"Parameters": json.dumps(parameters)})}
    ).encode()
    req = urllib.request.Request(
        f"{stack.url}/ferry/v1/state-machines/{machine}/executions",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req).read()
    run_id = "sfn-ev-test-0001"
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "SUCCEEDED", st
    out = stack.client(
        f"""
import json
from metaflow import Run, namespace
namespace({d["namespace"]!r})
run = Run('DailySalesReportFlow/{run_id}')
ev = run.trigger.event
print(json.dumps({{"day": run.data.day, "started_by": run.data.started_by,
                  "event": [ev.name, ev.id, ev.type]}}))
"""
    )
    got = json.loads(out)
    assert got == {
        "day": "2026-12-01",
        "started_by": "data_ready",
        "event": ["data_ready", "6f1c7a52-0001", "event"],
    }, got
