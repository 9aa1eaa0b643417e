"""Event-started runs on the embedded stack (issue 13, docs/events.md): Metaflow's own
`ArgoEvent(...).publish()`, pointed at the stack by `eval "$(ferry env)"`, starts the
`@trigger` flow with the payload's field as its parameter; a redelivery of the same event id
starts nothing new; the run's success starts the `@trigger_on_finish` downstream, whose
`Run.trigger.run` is the upstream run; `@project` branches stay apart; `ferry publish` prints
what started; a body that is no event answers 400.
"""

import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import ROOT, binary, tools_dir
from test_embedded_stack import FLOWS, Stack

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry-events") / "home")
    yield s
    s.stop()


def deploy(stack, path, *options):
    result = json.loads(stack.ferry("--json", "deploy", path, *options).stdout)
    assert result["status"] == "ok", result
    return result


def runs_of(stack, path, *options):
    """The run ids of a deployment, newest first."""
    out = stack.ferry("list-runs", path, *options).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith("sfn-")]


def wait_for_runs(stack, path, count, *options, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = runs_of(stack, path, *options)
        if len(runs) >= count:
            return runs
        time.sleep(0.5)
    raise AssertionError(f"{path} has {runs_of(stack, path, *options)} after {timeout}s\n" + stack.up_log())


def argo_publish(stack, name, payload) -> str:
    """Metaflow's own ArgoEvent(name).publish(payload) in a shell that ran `eval "$(ferry env)"`;
    returns the event id it sent."""
    code = (
        "import json, sys\n"
        "from metaflow.integrations import ArgoEvent\n"
        f"print(ArgoEvent({name!r}).publish(json.loads(sys.argv[1]), ignore_errors=False))\n"
    )
    env = dict(stack.env)
    env["FERRY"] = str(binary("ferry"))
    env["PY"] = str(tools_dir() / "venv" / "bin" / "python")
    env["CODE"] = code
    p = subprocess.run(
        ["sh", "-c", 'eval "$("$FERRY" env)" && exec "$PY" -c "$CODE" "$0"', json.dumps(payload)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"Argo Event ({name}) published." in p.stderr, p.stderr
    return p.stdout.strip().splitlines()[-1]


def test_argo_event_starts_the_flow_once_and_its_success_starts_the_downstream(stack):
    report = EXAMPLES / "event_report_flow.py"
    after = FLOWS / "embedded_after_report_flow.py"
    ns = deploy(stack, report)["namespace"]
    deploy(stack, after)

    event_id = argo_publish(stack, "data_ready", {"date": "2026-12-01"})
    (run_id,) = wait_for_runs(stack, report, 1)
    assert run_id.startswith("sfn-ev-"), run_id
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "SUCCEEDED", st

    # The same event id delivered again (a publisher's retry) starts nothing new.
    assert argo_publish(stack, "data_ready", {"date": "2026-12-01", "id": event_id}) == event_id
    again = json.loads(
        stack.ferry("--json", "publish", "data_ready", "--param", "date=2026-12-01", "--id", event_id).stdout
    )
    (d,) = again["deployments"]
    assert d["outcome"] == "duplicate" and d["started"] is False, again
    assert d["run_id"] == run_id and d["flow"] == "DailySalesReportFlow", again
    assert runs_of(stack, report) == [run_id]

    # Its success started the @trigger_on_finish downstream.
    (after_run,) = wait_for_runs(stack, after, 1)
    st = stack.wait(after_run, timeout=300)
    assert st["status"] == "SUCCEEDED", st

    out = stack.client(
        f"""
import json
from metaflow import Run, namespace
namespace(None)
run = Run("DailySalesReportFlow/{run_id}")
after = Run("AfterReportFlow/{after_run}")
print(json.dumps({{
    "day": run.data.day,
    "started_by": run.data.started_by,
    "event": [run.trigger.event.name, run.trigger.event.id, run.trigger.event.type],
    "after_trigger_run": after.trigger.run.pathspec,
    "after_event": [after.trigger.event.name, after.trigger.event.type],
    "after_upstream": after.data.upstream,
    "after_upstream_day": after.data.upstream_day,
    "namespace_ok": "production:" in "".join(run.tags),
}}))
"""
    )
    got = json.loads(out.strip().splitlines()[-1])
    assert got["day"] == "2026-12-01"
    assert got["started_by"] == "data_ready"
    assert got["event"] == ["data_ready", event_id, "event"]
    assert got["after_trigger_run"] == f"DailySalesReportFlow/{run_id}"
    assert got["after_event"] == ["metaflow.DailySalesReportFlow.end", "run"]
    assert got["after_upstream"] == f"DailySalesReportFlow/{run_id}"
    assert got["after_upstream_day"] == "2026-12-01"
    assert ns.startswith("production:")


COUNTED_FLOW = """
from metaflow import FlowSpec, Parameter, step, trigger


@trigger(event={"name": "batch_ready", "parameters": {"n": "count"}})
class CountedFlow(FlowSpec):
    n = Parameter("n", type=int, default=1)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CountedFlow()
"""


def test_ferry_publish_prints_what_started_and_bad_bodies_are_refused(stack):
    report = EXAMPLES / "event_report_flow.py"
    deploy(stack, report)
    before = set(runs_of(stack, report))
    p = stack.ferry("publish", "data_ready", "--payload", '{"date": "2026-12-02"}')
    assert "Published the event data_ready (id " in p.stdout, p.stdout
    assert "DailySalesReportFlow: started run sfn-ev-" in p.stdout, p.stdout
    new = [r for r in wait_for_runs(stack, report, len(before) + 1) if r not in before]
    assert len(new) == 1 and new[0] in p.stdout
    assert stack.wait(new[0], timeout=300)["status"] == "SUCCEEDED"

    # A value the deployment refuses: it says why and exits 1, nothing started.
    counted = stack.home.parent / "counted_flow.py"
    counted.write_text(COUNTED_FLOW)
    deploy(stack, counted)
    refused = stack.ferry("publish", "batch_ready", "--param", "count=many", check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "CountedFlow: no run: " in refused.stdout and '"many"' in refused.stdout, refused.stdout
    assert "1 of 1 deployments waiting for batch_ready started no run" in refused.stderr, refused.stderr
    assert runs_of(stack, counted) == []
    as_json = stack.ferry("--json", "publish", "batch_ready", "--param", "count=x", check=False)
    assert as_json.returncode == 1
    answer = json.loads(as_json.stdout)
    assert answer["deployments"][0]["outcome"] == "refused", answer
    assert answer["error"]["kind"] == "failed" and "started no run" in answer["error"]["message"], answer

    # An AWS configuration posts to the stack's events API (`events_url`, with the API key) and
    # prints the same lines. The embedded stack serves that route with the events Lambda's code.
    aws_home = stack.home.parent / "aws-home"
    aws_home.mkdir(exist_ok=True)
    (aws_home / "config.json").write_text(json.dumps({
        "target": "aws", "bucket": "unused", "prefix": "ferry/", "region": "us-east-1",
        "events_url": stack.url + "/ferry/v1/events", "api_key": "test-key",
    }))
    aws = dict(stack.env, FERRY_HOME=str(aws_home))
    ferry = [str(binary("ferry")), "publish", "batch_ready", "--param"]

    p = subprocess.run([*ferry, "count=many"], env=aws, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "CountedFlow: no run: " in p.stdout, p.stdout + p.stderr
    p = subprocess.run([*ferry, "count=3"], env=aws, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "CountedFlow: started run sfn-ev-" in p.stdout, p.stdout + p.stderr
    (run_id,) = wait_for_runs(stack, counted, 1)
    assert run_id in p.stdout
    assert stack.wait(run_id, timeout=300)["status"] == "SUCCEEDED"

    nobody = json.loads(stack.ferry("--json", "publish", "nobody_listens").stdout)
    assert nobody["deployments"] == [] and "no deployment waits" in nobody["message"], nobody

    bad = stack.ferry("--json", "publish", "data ready", check=False)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert json.loads(bad.stdout)["error"]["kind"] == "usage"

    req = urllib.request.Request(
        stack.url + "/ferry/v1/events",
        method="POST",
        data=b'{"payload": {"date": 1}}',
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 400
    body = json.loads(e.value.read())
    assert body["kind"] == "invalid" and "the event has no name" in body["error"], body

    # `ferry events`: newest first, what each event started or why not.
    # (The run's success is an event too, logged between them.)
    log = json.loads(stack.ferry("--json", "events", "--limit", "10").stdout)
    names = [e["event"]["name"] for e in log]
    assert names.index("nobody_listens") < names.index("data_ready"), names
    assert log[names.index("nobody_listens")]["deployments"] == []
    started = log[names.index("data_ready")]["deployments"][0]
    assert (started["outcome"], started["run_id"]) == ("started", new[0]), log
    assert len(json.loads(stack.ferry("--json", "events", "--limit", "1").stdout)) == 1
    # --event: only that event's deliveries, past the run-ended events of the runs since.
    only = json.loads(stack.ferry("--json", "events", "--event", "nobody_listens", "--limit", "1").stdout)
    assert [e["event"]["name"] for e in only] == ["nobody_listens"], only
    assert "No event never_sent among" in stack.ferry("events", "--event", "never_sent").stdout
    text = stack.ferry("events", "--limit", "10").stdout
    assert "nobody_listens" in text and "no deployment waits for it" in text, text
    assert f"DailySalesReportFlow: started run {new[0]}" in text, text


def test_project_branches_stay_apart(stack):
    for branch in ("a", "b"):
        deploy(stack, EXAMPLES / "project_report_flow.py", "--branch", branch)
    for flow in ("project_train_flow.py", "project_score_flow.py"):
        deploy(stack, EXAMPLES / flow, "--branch", "a")
        stack.ferry("trigger", EXAMPLES / flow, "--branch", "a")
        (run_id,) = wait_for_runs(stack, EXAMPLES / flow, 1, "--branch", "a")
        assert stack.wait(run_id, timeout=300)["status"] == "SUCCEEDED"
    (report_a,) = wait_for_runs(stack, EXAMPLES / "project_report_flow.py", 1, "--branch", "a")
    assert stack.wait(report_a, timeout=300)["status"] == "SUCCEEDED"
    assert runs_of(stack, EXAMPLES / "project_report_flow.py", "--branch", "b") == []
