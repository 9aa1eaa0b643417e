"""The two foreach forms on the embedded stack, compared through the real metaflow client: the same
flow deployed with `--foreach-mode map` and then `--foreach-mode array` (one deployment,
redeployed), one run each, and the client views of both runs must be equal: the steps, the
tasks of each step in split order, every task's artifacts, attempt and `Task.stdout`. Only the
task ids differ (an array child's is `<array job id>-<i>`).

Cases: a 50-wide foreach with a three-step body (prep -> train -> score) and an ordered join,
`@retry` failing item 7 of `train` once, `@catch` on `score` catching item 3; and a wide
foreach of one trivial step: 100 items in the suite, `FERRY_WIDE_FOREACH_WIDTH=2000` for the
issue's 2,000 (the wall times of both forms are printed: `-s` shows them).
"""

import json
import os
import re
import time
import urllib.request

import pytest

from test_embedded_stack import FLOWS, Stack

VIEW = r"""
import json, sys
from metaflow import Run, namespace
namespace(sys.argv[1])
run = Run(sys.argv[2])
view = {"successful": run.successful, "steps": {}}
def show(data):
    # A caught exception without its traceback, which names the task's own work directory.
    if hasattr(data, "stacktrace"):
        return repr((data.type, data.exception))
    return repr(data)
for step in run:
    tasks = []
    for task in step:
        tasks.append({
            "index": task.index,
            "id": task.id,
            "attempt": task.current_attempt,
            "successful": task.successful,
            "artifacts": {a.id: show(a.data) for a in task if not a.id.startswith("_") and a.id != "name"},
            "stdout": task.stdout,
        })
    tasks.sort(key=lambda t: (t["index"] is None, t["index"]))
    view["steps"][step.id] = tasks
print(json.dumps(view))
"""


def client_view(stack, ns, pathspec):
    out = stack.client("import sys\nsys.argv = ['view', %r, %r]\n" % (ns, pathspec) + VIEW)
    return json.loads(out.strip().splitlines()[-1])


def deploy(stack, flow, mode):
    out = stack.ferry("deploy", FLOWS / flow, "--foreach-mode", mode).stdout
    ns = re.search(r"namespace\(\"(production:[^\"]+)\"\)", out)
    assert ns, out
    return ns.group(1), out


def run_form(stack, flow, mode, *params, timeout=900):
    ns, out = deploy(stack, flow, mode)
    started = time.monotonic()
    run_id = stack.trigger(flow, *params)
    st = stack.wait(run_id, timeout=timeout)
    wall = time.monotonic() - started
    assert st["status"] == "SUCCEEDED", (mode, st)
    return ns, out, run_id, wall


def without_task_ids(view):
    return {
        "successful": view["successful"],
        "steps": {s: [{k: v for k, v in t.items() if k != "id"} for t in ts] for s, ts in view["steps"].items()},
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry-forms") / "home")
    yield s
    s.stop()


def test_array_form_matches_the_map_form_in_the_client(stack):
    flow = "embedded_forms_flow.py"
    body = ["prep", "train", "score"]
    views, ids = {}, {}
    for mode in ("map", "array"):
        ns, out, run_id, wall = run_form(stack, flow, mode)
        print(f"{mode}: 50-wide, 3-step body: {wall:.1f} s")
        if mode == "array":
            assert "Foreach start: Batch array jobs (body: prep, train, score)." in out, out
        else:
            assert "Batch array jobs" not in out, out
        view = client_view(stack, ns, f"EmbeddedFormsFlow/{run_id}")
        ids[mode] = {s: [t["id"] for t in ts] for s, ts in view["steps"].items()}
        views[mode] = without_task_ids(view)
    m, a = views["map"], views["array"]
    assert a == m
    # What both forms show: 50 tasks per body step in split order, the retried and the caught item.
    assert m["successful"]
    for step in body:
        tasks = m["steps"][step]
        assert [t["index"] for t in tasks] == list(range(50)), step
        assert all(f"{step} item {t['index']}" in t["stdout"] for t in tasks), step
    train7 = m["steps"]["train"][7]
    assert train7["attempt"] == 1 and "train item 7 attempt 1" in train7["stdout"], train7
    assert [t["attempt"] for t in m["steps"]["train"]].count(1) == 1
    join = m["steps"]["join"][0]["artifacts"]
    assert join["xs"] == repr(list(range(50)))
    assert join["caught"] == "[3]"
    assert "score refuses item 3" in m["steps"]["score"][3]["artifacts"]["failure"]
    # The array form's body tasks are array children: `<array job id>-<i>`, one array job per step.
    for step in body:
        arrays = {re.sub(r"-\d+$", "", i) for i in ids["array"][step]}
        assert len(arrays) == 1, (step, ids["array"][step][:3])
        array_job = arrays.pop()
        assert ids["array"][step] == [f"{array_job}-{i}" for i in range(50)], step
        assert len({re.sub(r"-\d+$", "", i) for i in ids["map"][step]}) == 50, step


# The wide case's width: 100 in the suite; FERRY_WIDE_FOREACH_WIDTH=2000 runs the case.
# Each item is one Metaflow task (~0.7 CPU-s of Python start-up), so 2,000 take more than ten
# minutes per form on 2 idle cores: too long for CI's budget (bench/foreach_forms.md).
WIDE = int(os.environ.get("FERRY_WIDE_FOREACH_WIDTH", "100"))


def test_wide_foreach_in_both_forms(stack):
    flow = "embedded_wide_forms_flow.py"
    views, walls = {}, {}
    for mode in ("map", "array"):
        ns, _, run_id, wall = run_form(stack, flow, mode, "--width", str(WIDE), timeout=7200)
        walls[mode] = wall
        view = client_view(stack, ns, f"EmbeddedWideFormsFlow/{run_id}")
        views[mode] = without_task_ids(view)
    print(f"{WIDE}-wide foreach: map {walls['map']:.1f} s, array {walls['array']:.1f} s")
    assert views["array"] == views["map"]
    body = views["map"]["steps"]["body"]
    last = WIDE - 1
    assert [t["index"] for t in body] == list(range(WIDE))
    assert body[last]["artifacts"]["square"] == repr(last * last)
    assert f"body item {last}" in body[last]["stdout"]


def test_a_failed_array_child_is_explained_like_a_map_iteration(stack):
    flow = "embedded_array_fail_flow.py"
    deploy(stack, flow, "array")
    p = stack.ferry("trigger", FLOWS / flow, "--wait", check=False)
    assert p.returncode == 1, p
    # The failing task is the child, not its array job: its exception and its own logs command.
    assert "ValueError: array child 1 fails on purpose" in p.stdout, p.stdout
    logs = re.search(r"ferry logs (EmbeddedArrayFailFlow/\S+/body/\S+) --stderr", p.stdout)
    assert logs and logs.group(1).endswith("-1"), p.stdout
    err = stack.ferry("logs", logs.group(1), "--stderr").stdout
    assert "array child 1 fails on purpose" in err, err
    # The web UI's run answer names the same child and shows its log.
    _, run_id, step, task = logs.group(1).split("/")
    with urllib.request.urlopen(f"{stack.url}/ui/api/runs/EmbeddedArrayFailFlow/{run_id}") as r:
        failure = json.load(r)["failure"]
    assert (failure["step"], failure["task"]) == (step, task), failure
    assert "array child 1 fails on purpose" in failure["log"]["text"], failure
