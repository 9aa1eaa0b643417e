"""@exit_hook on the embedded stack, with the real metaflow client in the hooks: on_success runs
after a success only, on_error after a failure only, each once, seeing the run's outcome; a
failing hook leaves the run's status (and its failing step) as it was."""

import json
import os

import pytest

from conftest import ROOT
from test_embedded_stack import Stack

FLOWS = ROOT / "tests" / "flows"
HOOKED = FLOWS / "embedded_exit_hook_flow.py"
BROKEN = FLOWS / "embedded_broken_hook_flow.py"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    out = tmp_path_factory.mktemp("hook-out")
    # `ferry up` passes its environment to the tasks, hooks included.
    os.environ["FERRY_TEST_HOOK_OUT"] = str(out)
    try:
        s = Stack(tmp_path_factory.mktemp("ferry-exit-hook") / "home")
    finally:
        del os.environ["FERRY_TEST_HOOK_OUT"]
    s.hook_out = out
    s.ferry("deploy", HOOKED)
    s.ferry("deploy", BROKEN)
    yield s
    s.stop()


def run(stack, flow, *params):
    run_file = stack.home / "run.txt"
    stack.ferry("trigger", flow, *params, "--run-id-file", run_file)
    run_id = run_file.read_text().strip()
    return run_id, stack.wait(run_id, timeout=600)


def seen(stack, hook, run_id):
    path = stack.hook_out / f"{hook}-{run_id}.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_on_success_runs_after_a_success_only(stack):
    run_id, st = run(stack, HOOKED)
    assert st["status"] == "SUCCEEDED", st
    assert seen(stack, "celebrate", run_id) == {
        "hook": "celebrate",
        "pathspec": f"EmbeddedExitHookFlow/{run_id}",
        "successful": True,
        "finished": True,
    }
    assert seen(stack, "lament", run_id) is None
    # The hook task's output is in the datastore, like any task's.
    logs = stack.ferry("logs", f"EmbeddedExitHookFlow/{run_id}/_exit_hook").stdout
    assert "[exit_hook] celebrate is starting." in logs, logs
    assert f'"pathspec": "EmbeddedExitHookFlow/{run_id}"' in logs, logs


def test_on_error_runs_after_a_failure_only(stack):
    run_id, st = run(stack, HOOKED, "--fail", "1")
    assert st["status"] == "FAILED", st
    assert st.get("failing_step") == "start", st
    assert seen(stack, "lament", run_id) == {
        "hook": "lament",
        "pathspec": f"EmbeddedExitHookFlow/{run_id}",
        "successful": False,
        "finished": False,
    }
    assert seen(stack, "celebrate", run_id) is None


@pytest.mark.parametrize("fail, status", [("0", "SUCCEEDED"), ("1", "FAILED")])
def test_a_failing_hook_leaves_the_status_as_it_was(stack, fail, status):
    run_id, st = run(stack, BROKEN, "--fail", fail)
    assert st["status"] == status, st
    if status == "FAILED":
        assert st.get("failing_step") == "start", st
    # The function after the failing one still ran, and saw the outcome.
    assert seen(stack, "afterwards", run_id) == {"successful": status == "SUCCEEDED"}
    err = stack.ferry("logs", f"EmbeddedBrokenHookFlow/{run_id}/_exit_hook", "--stderr").stdout
    assert "this exit hook fails on purpose" in err, err
    assert "[exit_hook] broken failed with exit code 1." in err, err
