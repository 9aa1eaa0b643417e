"""`ferry resume` on the embedded stack, end to end with the real metaflow client.

The flow (tests/flows/embedded_resume_flow.py) is start -> fanout (foreach over 20) -> body ->
join -> train -> end; every task appends what it ran to <home>/resume-test/ran.log, so the tests
count the task processes that ran user code; control files make a step fail or wait.

Needs FERRY_BIN_DIR and FERRY_TOOLS, as scripts/test sets them.
"""

import json
import os
import re
import shutil
import time
import uuid

import pytest

from conftest import ROOT
from test_embedded_stack import FLOWS, Stack

FLOW = "embedded_resume_flow.py"
WIDTH = 20
EVERY_TASK = ["start", "fanout", *(f"body-{i}" for i in range(WIDTH)), "join", "train", "end"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry-resume") / "home")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def namespace(stack):
    return stack.deploy(FLOW)


def control(stack, name):
    d = stack.home / "resume-test"
    d.mkdir(exist_ok=True)
    return d / name


def set_flag(stack, name, on=True):
    path = control(stack, name)
    if on:
        path.write_text("")
    elif path.exists():
        path.unlink()


def take_ran(stack):
    """What ran since the last call, as a sorted list; clears the log."""
    path = control(stack, "ran.log")
    lines = path.read_text().split() if path.exists() else []
    if path.exists():
        path.unlink()
    return sorted(lines)


def resume(stack, *args, check=True):
    run_file = stack.home / f"resume-{time.time_ns()}.txt"
    p = stack.ferry("resume", *args, "--run-id-file", run_file, check=check)
    if not check:
        return p, None
    run_id = run_file.read_text().strip()
    assert f"triggered on the Ferry embedded stack (run-id {run_id})." in p.stdout, p.stdout
    return p, run_id


def failed_at_train(stack):
    set_flag(stack, "fail-train")
    try:
        run = stack.trigger(FLOW)
        st = stack.wait(run)
    finally:
        set_flag(stack, "fail-train", False)
    assert st["status"] == "FAILED", st
    assert st["failing_step"] == "train", st
    assert take_ran(stack) == sorted(EVERY_TASK[:-1])
    return run


CLIENT = """
import json
from metaflow import Flow, Run, namespace
namespace(%(ns)r)
run = Run("ResumeFlow/%(run)s")
def view(t):
    md = t.metadata_dict
    return {"id": t.id, "index": t.index, "origin_run": md.get("origin-run-id"),
            "origin_task": md.get("origin-task-id"), "origin_pathspec": t.origin_pathspec}
print(json.dumps({
    "ok": run.successful,
    "origin": run.origin_pathspec,
    "items": run["start"].task["items"].data,
    "squares": run["join"].task["squares"].data,
    "bodies": sorted([t.index, t["sq"].data] for t in run["body"]),
    "model": run["train"].task["model"].data,
    "version": run["train"].task["version"].data,
    "tasks": {s.id: [view(t) for t in s] for s in run},
    "runs_in_namespace": [r.id for r in Flow("ResumeFlow").runs()],
    "origin_bodies": {t.id: t.index for t in Run("ResumeFlow/%(origin)s")["body"]},
}))
"""


def client_view(stack, ns, run, origin):
    out = stack.client(CLIENT % {"ns": ns, "run": run, "origin": origin})
    return json.loads(out.strip().splitlines()[-1])


def test_a_run_failed_at_train_resumes_at_train_cloning_everything_before(stack, namespace):
    origin = failed_at_train(stack)
    p, run = resume(stack, origin, "--wait")
    assert f"Resuming {origin}" in p.stdout, p.stdout
    assert "23 of its tasks are cloned" in p.stdout, p.stdout
    assert f"Run {run} of ResumeFlow (deployment " in p.stdout and "): SUCCEEDED" in p.stdout, p.stdout
    assert run != origin and run.startswith("sfn-")
    assert take_ran(stack) == ["end", "train"], "only train and end ran user code"

    got = client_view(stack, namespace, run, origin)
    assert got["ok"] is True
    assert got["origin"] == f"ResumeFlow/{origin}", "Run.origin_pathspec"
    assert got["items"] == list(range(WIDTH))
    assert got["squares"] == [i * i for i in range(WIDTH)], "the join saw the splits in order"
    assert got["bodies"] == [[i, i * i] for i in range(WIDTH)]
    assert got["model"] == sum(i * i for i in range(WIDTH))
    tasks = got["tasks"]
    for step in ["start", "fanout", "join"]:
        (t,) = tasks[step]
        assert t["origin_run"] == origin and t["origin_task"], (step, t)
        assert t["origin_pathspec"] == f"ResumeFlow/{origin}/{step}/{t['origin_task']}"
    assert len(tasks["body"]) == WIDTH
    for t in tasks["body"]:
        assert t["origin_run"] == origin
        assert got["origin_bodies"][t["origin_task"]] == t["index"], "each split clones its own origin split"
    for step in ["train", "end"]:
        (t,) = tasks[step]
        assert t["origin_run"] == origin and t["origin_task"] is None, (step, t)
    assert {origin, run} <= set(got["runs_in_namespace"]), "both runs are in the production namespace"

    st = stack.status(run)
    assert st["origin_run_id"] == origin and st["resume_step"] == "train", st
    text = stack.ferry("status", run).stdout
    assert f"Resumed from: {origin} (at step train)" in text, text
    lines = stack.ferry("list-runs", FLOWS / FLOW).stdout.splitlines()
    (line,) = [l for l in lines if l.startswith(run + " ")]
    assert line.endswith(f"SUCCEEDED resumed from {origin}"), line
    (line,) = [l for l in lines if l.startswith(origin + " ")]
    assert line.endswith("FAILED"), line
    runs = json.loads(stack.ferry("--json", "list-runs", FLOWS / FLOW).stdout)
    (mine,) = [r for r in runs if r["run_id"] == run]
    assert mine["origin_run_id"] == origin

    # --step on the succeeded resumed run: the foreach and everything after it run again.
    p, again = resume(stack, run, "--step", "fanout", "--wait", "--tag", "second-try")
    assert "fanout and every step after it run again" in p.stdout, p.stdout
    assert take_ran(stack) == sorted(EVERY_TASK[1:]), "everything but start ran"
    got = client_view(stack, namespace, again, run)
    assert got["ok"] is True and got["origin"] == f"ResumeFlow/{run}"
    (start,) = got["tasks"]["start"]
    assert start["origin_run"] == run and start["origin_task"], "start is cloned"
    assert all(t["origin_task"] is None for t in got["tasks"]["body"]), "the splits ran"
    assert got["squares"] == [i * i for i in range(WIDTH)]
    tags = stack.client(
        f"from metaflow import Run, namespace\nnamespace({namespace!r})\n"
        f"print(sorted(Run('ResumeFlow/{again}').user_tags))"
    )
    assert "second-try" in tags, tags


def test_a_resume_that_fails_again_says_where_and_exits_1(stack):
    origin = failed_at_train(stack)
    set_flag(stack, "fail-train")
    try:
        p, _ = resume(stack, origin, "--wait", check=False)
    finally:
        set_flag(stack, "fail-train", False)
    assert p.returncode == 1, p
    assert "): FAILED" in p.stdout and f"Resumed from: {origin} (at step train)" in p.stdout, p.stdout
    assert "Failed step: train" in p.stdout, p.stdout
    assert "--stderr" in p.stdout, "the ferry logs command to read the error: " + p.stdout
    take_ran(stack)


def test_refusals_say_why_and_what_to_do(stack, namespace, tmp_path):
    origin = failed_at_train(stack)

    # A running run.
    set_flag(stack, "block-train")
    try:
        running = stack.trigger(FLOW)
        deadline = time.time() + 300
        while "train" not in take_ran(stack):
            assert time.time() < deadline, "train never started"
            time.sleep(1)
        p, _ = resume(stack, running, check=False)
        assert p.returncode == 1, p
        assert "is still running" in p.stderr and f"ferry terminate {running}" in p.stderr, p.stderr
        p = stack.ferry("--json", "resume", running, check=False)
        err = json.loads(p.stdout)["error"]
        assert err["kind"] == "refused", err
    finally:
        set_flag(stack, "block-train", False)
    assert stack.wait(running)["status"] == "SUCCEEDED"
    take_ran(stack)

    # A succeeded run without --step.
    p, _ = resume(stack, running, check=False)
    assert p.returncode == 1
    assert "succeeded: there is nothing to resume" in p.stderr and "--step STEP" in p.stderr, p.stderr

    # An unknown run id.
    p, _ = resume(stack, f"sfn-{uuid.uuid4()}", check=False)
    assert p.returncode == 1 and "no run sfn-" in p.stderr, p.stderr
    p = stack.ferry("--json", "resume", f"sfn-{uuid.uuid4()}", check=False)
    assert json.loads(p.stdout)["error"]["kind"] == "not_found"

    # A step the flow lacks.
    p, _ = resume(stack, origin, "--step", "nope", check=False)
    assert p.returncode == 2, p
    assert "invalid step name nope specified" in p.stderr and "start,fanout,body,join,train,end" in p.stderr.replace(" ", ""), p.stderr

    # New parameter values.
    p, _ = resume(stack, origin, "--width", "3", check=False)
    assert p.returncode == 2 and "reuses the parameters" in p.stderr, p.stderr

    # Another user, without the production token, then with a wrong one.
    other = dict(stack.env, USER="mallory", METAFLOW_USER="mallory", METAFLOW_HOME=str(tmp_path))
    saved = stack.env
    stack.env = other
    try:
        p, _ = resume(stack, origin, check=False)
        assert p.returncode == 1
        assert "deployed by the user ferrytester" in p.stderr and "--authorize MY_TOKEN" in p.stderr, p.stderr
        assert "gave no --authorize" in p.stderr, p.stderr
        p, _ = resume(stack, origin, "--authorize", "resumeflow-9-zzzz", check=False)
        assert p.returncode == 1 and "is not the token of this deployment" in p.stderr, p.stderr
        # With the token, another user may resume.
        p, run = resume(stack, origin, "--authorize", namespace, "--wait")
        assert f"Run {run} of ResumeFlow (deployment " in p.stdout and "): SUCCEEDED" in p.stdout, p.stdout
    finally:
        stack.env = saved
    assert take_ran(stack) == ["end", "train"]


def test_a_run_stopped_by_a_stack_restart_resumes_after_the_restart(tmp_path):
    home = tmp_path / "home"
    a = Stack(home)
    try:
        ns = a.deploy(FLOW)
        set_flag(a, "block-train")
        run = a.trigger(FLOW)
        deadline = time.time() + 300
        while "train" not in take_ran(a):
            assert time.time() < deadline, "train never started"
            time.sleep(1)
    finally:
        a.stop()
    set_flag(a, "block-train", False)
    b = Stack(home, port=a.port)
    try:
        st = b.status(run)
        assert st["status"] == "FAILED" and st["error_name"] == "Ferry.StackStopped", st
        take_ran(b)
        p, again = resume(b, run, "--wait")
        assert f"Run {again} of ResumeFlow (deployment " in p.stdout and "): SUCCEEDED" in p.stdout, p.stdout
        assert take_ran(b) == ["end", "train"]
        got = client_view(b, ns, again, run)
        assert got["ok"] is True and got["origin"] == f"ResumeFlow/{run}"
    finally:
        b.stop()


def test_a_redeployed_flow_resumes_on_the_version_the_run_ran(stack, namespace, tmp_path):
    flow_dir = tmp_path / "flow"
    flow_dir.mkdir()
    copy = flow_dir / FLOW
    shutil.copy(FLOWS / FLOW, copy)
    # Deploys the same deployment (same flow class) from another folder: same code, same version.
    assert stack.deploy(str(copy)) == namespace
    origin = failed_at_train(stack)
    copy.write_text(copy.read_text().replace('VERSION = "v1"', 'VERSION = "v2"'))
    assert stack.deploy(str(copy)) == namespace

    p, run = resume(stack, origin, "--wait")
    assert "ran an earlier version of ResumeFlow than the one deployed now" in p.stdout, p.stdout
    assert take_ran(stack) == ["end", "train"]
    got = client_view(stack, namespace, run, origin)
    assert got["ok"] is True
    assert got["version"] == "v1", "train ran the code of the origin's version"

    fresh = stack.trigger(FLOW)
    assert stack.wait(fresh)["status"] == "SUCCEEDED"
    take_ran(stack)
    out = stack.client(
        f"from metaflow import Run, namespace\nnamespace({namespace!r})\n"
        f"print(Run('ResumeFlow/{fresh}')['train'].task['version'].data)"
    )
    assert out.strip() == "v2", "a new run runs the current version"
    # Put the module's deployment back to the checked-in flow.
    stack.deploy(FLOW)
