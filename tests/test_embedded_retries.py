"""Every attempt of a retried step lives under one task id, with its own stdout and stderr, as in
Metaflow: for a retry at once (`minutes_between_retries=0`) and for one after a delay (which the
task waits out; the stack's test clock runs 60x, so one minute takes one second)."""

import json

import pytest

from test_embedded_stack import FLOWS, Stack

FLOW = "embedded_retry_flow.py"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry-retries") / "home", extra_args=["--test-clock-speedup", "60"])
    yield s
    s.stop()


def test_every_attempt_keeps_its_task_id_and_its_logs(stack):
    ns = stack.deploy(FLOW)
    run_id = stack.trigger(FLOW)
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "SUCCEEDED", st
    out = stack.client(
        f"""
import json
from metaflow import Run, Task, namespace
namespace({ns!r})
run = Run("EmbeddedRetryFlow/{run_id}")
got = {{}}
for name, attempts in (("quick", 2), ("later", 3)):
    tasks = list(run[name])
    task = tasks[0]
    got[name] = {{
        "tasks": [t.id for t in tasks],
        "current_attempt": task.current_attempt,
        "attempts": [
            {{"stdout": Task(task.pathspec, attempt=a).stdout, "stderr": Task(task.pathspec, attempt=a).stderr}}
            for a in range(attempts)
        ],
        "pathspec": task.pathspec,
    }}
print(json.dumps(got))
"""
    )
    got = json.loads(out.strip().splitlines()[-1])
    for name, attempts in (("quick", 2), ("later", 3)):
        step = got[name]
        assert len(step["tasks"]) == 1, f"{name}: one task for every attempt, got {step['tasks']}"
        assert step["current_attempt"] == attempts - 1
        for a, logs in enumerate(step["attempts"]):
            assert f"{name} stdout of attempt {a}" in logs["stdout"], (name, a, logs)
            assert f"{name} stderr of attempt {a}" in logs["stderr"], (name, a, logs)
            assert f"of attempt {a + 1}" not in logs["stdout"] + logs["stderr"], (name, a, logs)
            failed = f"{name} fails attempt {a} on purpose"
            assert (failed in logs["stderr"]) == (a < attempts - 1), (name, a, logs)
            # `ferry logs` reads the same attempt under the same task id.
            cli_out = stack.ferry("logs", step["pathspec"], "--attempt", str(a)).stdout
            cli_err = stack.ferry("logs", step["pathspec"], "--attempt", str(a), "--stderr").stdout
            assert f"{name} stdout of attempt {a}" in cli_out, (name, a, cli_out)
            assert f"{name} stderr of attempt {a}" in cli_err, (name, a, cli_err)
    # The delayed retries waited (and said so where the attempt's stderr is read); the others did not.
    later = got["later"]["attempts"]
    assert "waiting 1 minute before retry 1" in later[1]["stderr"], later[1]["stderr"]
    assert "waiting 1 minute before retry 2" in later[2]["stderr"], later[2]["stderr"]
    assert "waiting" not in got["quick"]["attempts"][1]["stderr"]
