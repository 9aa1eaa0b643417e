"""The embedded stack end to end: `ferry up` on a free port in a temporary home, real flows
deployed with `ferry deploy`, started with `ferry trigger`, followed with `list-runs`, `status`,
`logs` and `terminate`, and read back with the real metaflow client (namespaces, Task.stdout).

Needs FERRY_BIN_DIR (ferry, task-wrapper) and FERRY_TOOLS (venv with metaflow), as scripts/test
sets them. One stack serves the module; the schedule test has its own (with a fast clock).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, binary, free_port, tools_dir

FLOWS = ROOT / "tests" / "flows"
USER = "ferrytester"


def base_env(home: Path) -> dict:
    env = dict(os.environ)
    venv_bin = tools_dir() / "venv" / "bin"
    env["PATH"] = f"{binary('task-wrapper').parent}:{venv_bin}:{env.get('PATH', '')}"
    env["FERRY_HOME"] = str(home)
    env["USER"] = USER
    env["METAFLOW_USER"] = USER
    env.pop("METAFLOW_PROFILE", None)
    env.pop("FERRY_CLOCK_SPEEDUP", None)
    # Keep the client and the flows off the developer's own Metaflow config.
    env["METAFLOW_HOME"] = str(home / "metaflow-config")
    return env


class Stack:
    """A `ferry up` process and a way to run `ferry` commands against it."""

    def __init__(self, home: Path, extra_args=(), port=None, max_workers=4):
        self.home = home
        self.env = base_env(home)
        # Deployments record the stack's URL: a restart on the same home keeps the port.
        self.port = port or free_port()
        self.log = open(home.parent / f"{home.name}-up.log", "w")
        self.proc = subprocess.Popen(
            [str(binary("ferry")), "up", "--port", str(self.port), "--max-workers", str(max_workers), *extra_args],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            info = self.info()
            if info and info.get("pid") == self.proc.pid:
                break
            assert self.proc.poll() is None, self.up_log()
            time.sleep(0.1)
        else:
            raise AssertionError("ferry up did not write stack.json:\n" + self.up_log())
        self.url = self.info()["url"]

    def info(self):
        try:
            return json.loads((self.home / "stack.json").read_text())
        except (OSError, ValueError):
            return None

    def up_log(self) -> str:
        self.log.flush()
        return (self.home.parent / f"{self.home.name}-up.log").read_text()

    def ferry(self, *args, check=True, timeout=300):
        p = subprocess.run(
            [str(binary("ferry")), *map(str, args)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and p.returncode != 0:
            raise AssertionError(f"ferry {' '.join(map(str, args))} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def deploy(self, flow: str) -> str:
        """Deploy a flow from tests/flows; returns its production namespace."""
        out = self.ferry("deploy", FLOWS / flow).stdout
        m = re.search(r"namespace\(\"(production:[^\"]+)\"\)", out)
        assert m, out
        return m.group(1)

    def trigger(self, flow: str, *params) -> str:
        run_file = self.home / f"run-{time.time_ns()}.txt"
        out = self.ferry("trigger", FLOWS / flow, *params, "--run-id-file", run_file).stdout
        run_id = run_file.read_text().strip()
        assert f"triggered on the Ferry embedded stack (run-id {run_id})." in out, out
        assert run_id.startswith("sfn-")
        return run_id

    def status(self, run_id: str) -> dict:
        return json.loads(self.ferry("--json", "status", run_id).stdout)

    def wait(self, run_id: str, timeout: float = 900) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.status(run_id)
            if st["status"] != "RUNNING":
                return st
            time.sleep(1)
        raise AssertionError(f"{run_id} still running after {timeout}s")

    def client(self, code: str) -> str:
        """Run Python code with the metaflow client pointed at this stack; returns stdout."""
        env = dict(self.env)
        env.update(
            METAFLOW_DEFAULT_METADATA="service",
            METAFLOW_SERVICE_URL=self.url,
            METAFLOW_DEFAULT_DATASTORE="local",
            METAFLOW_DATASTORE_SYSROOT_LOCAL=str(self.home / "datastore"),
        )
        py = tools_dir() / "venv" / "bin" / "python"
        p = subprocess.run([str(py), "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry") / "home")
    yield s
    s.stop()
    assert not (s.home / "stack.json").exists(), "stack.json left behind after shutdown"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_wide_flow_succeeds_and_the_client_finds_it_in_the_production_namespace(stack):
    ns = stack.deploy("embedded_wide_flow.py")
    greeting = "h$llo `x` café"
    run_id = stack.trigger("embedded_wide_flow.py", "--width", "200", f"--greeting={greeting}")
    st = stack.wait(run_id)
    assert st["status"] == "SUCCEEDED", st
    assert st["flow"] == "EmbeddedWideFlow"
    assert st["started_at"] and st["stopped_at"]

    lines = stack.ferry("list-runs", FLOWS / "embedded_wide_flow.py").stdout.splitlines()
    mine = [l for l in lines if l.startswith(run_id + " ")]
    assert len(mine) == 1 and mine[0].endswith(" SUCCEEDED"), lines
    assert re.match(rf"{run_id} startedAt:'\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00' stoppedAt:'[^']+' SUCCEEDED$", mine[0])
    assert run_id in stack.ferry("list-runs", FLOWS / "embedded_wide_flow.py", "--succeeded").stdout
    assert run_id not in stack.ferry("list-runs", FLOWS / "embedded_wide_flow.py", "--failed", "--running").stdout
    assert "Run %s of EmbeddedWideFlow" % run_id in stack.ferry("status", run_id).stdout

    out = stack.client(
        f"""
import json
from metaflow import Flow, Run, namespace
namespace({ns!r})
run = Run("EmbeddedWideFlow/{run_id}")
flaky = run["flaky"].task
print(json.dumps({{
    "successful": run.successful,
    "tags": sorted(run.tags),
    "end_stdout": run["end"].task.stdout,
    "start_stdout": run["start"].task.stdout,
    "bodies": len(list(run["body"])),
    "squares": run["gather"].task["squares"].data[:5],
    "flaky_attempt": flaky.current_attempt,
    "greeting": run.data.greeting,
}}))
namespace("user:{USER}")
try:
    Run("EmbeddedWideFlow/{run_id}")
    print("visible")
except Exception as e:
    print("hidden:" + type(e).__name__)
"""
    )
    first, second = out.strip().splitlines()[-2:]
    got = json.loads(first)
    assert got["successful"] is True
    assert ns in got["tags"]
    assert "sides=left,right squares=200 sum=2646700 attempts=2" in got["end_stdout"]
    assert f"greeting={greeting}" in got["start_stdout"]
    assert got["greeting"] == greeting
    assert got["bodies"] == 200
    assert got["squares"] == [0, 1, 4, 9, 16]
    assert got["flaky_attempt"] == 1
    assert second == "hidden:MetaflowNamespaceMismatch", "a production run must not be in the user namespace: " + second

    logs = stack.ferry("logs", f"EmbeddedWideFlow/{run_id}/end").stdout
    assert "sides=left,right squares=200 sum=2646700 attempts=2" in logs
    assert f"greeting={greeting}" in stack.ferry("logs", f"EmbeddedWideFlow/{run_id}/start").stdout
    assert "first attempt fails on purpose" in stack.ferry("logs", f"EmbeddedWideFlow/{run_id}/flaky", "--stderr", "--attempt", "0").stdout
    # An attempt that never ran is an error naming the ones that did, not another attempt's log.
    missing = stack.ferry("logs", f"EmbeddedWideFlow/{run_id}/flaky", "--attempt", "5", check=False)
    assert missing.returncode == 1 and missing.stdout == "", missing
    assert "has no attempt 5" in missing.stderr and "its attempts: 0, 1\n" in missing.stderr, missing.stderr


def test_trigger_rejects_unknown_and_badly_typed_parameters(stack):
    stack.deploy("embedded_wide_flow.py")
    p = stack.ferry("trigger", FLOWS / "embedded_wide_flow.py", "--nope", "1", check=False)
    assert p.returncode == 2 and "no such option --nope" in p.stderr, p.stderr
    assert "--width" in p.stderr
    p = stack.ferry("trigger", FLOWS / "embedded_wide_flow.py", "--width", "many", check=False)
    assert p.returncode == 2 and "invalid value for --width" in p.stderr, p.stderr


def test_a_failing_step_fails_the_run_and_status_names_it(stack):
    stack.deploy("embedded_fail_flow.py")
    run_id = stack.trigger("embedded_fail_flow.py")
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "FAILED", st
    assert st["failing_step"] == "explode"
    text = stack.ferry("status", run_id).stdout
    assert "FAILED" in text and "Failed step: explode" in text, text
    assert "(exit code 1)" in text, text
    m = re.search(r"Logs: ferry logs (EmbeddedFailFlow/\S+/explode/\S+) --stderr", text)
    assert m, text
    assert "explode fails on purpose" in stack.ferry("logs", m.group(1), "--stderr").stdout
    assert run_id in stack.ferry("list-runs", FLOWS / "embedded_fail_flow.py", "--failed").stdout
    err = stack.ferry("logs", f"EmbeddedFailFlow/{run_id}/explode", "--stderr").stdout
    assert "explode fails on purpose" in err, err
    assert "about to fail" in stack.ferry("logs", f"EmbeddedFailFlow/{run_id}/explode").stdout


def test_terminate_stops_the_run_and_all_its_processes(stack, tmp_path):
    stack.deploy("embedded_sleep_flow.py")
    pid_file = tmp_path / "pids"
    run_id = stack.trigger("embedded_sleep_flow.py", "--pid-file", pid_file)
    deadline = time.time() + 180
    while not pid_file.exists():
        assert time.time() < deadline, "the nap step never started"
        assert stack.status(run_id)["status"] == "RUNNING"
        time.sleep(0.5)
    pids = [int(x) for x in pid_file.read_text().split()]
    assert all(alive(p) for p in pids)
    assert run_id in stack.ferry("list-runs", FLOWS / "embedded_sleep_flow.py", "--running").stdout

    out = stack.ferry("terminate", run_id).stdout
    assert f"Terminating run {run_id} for Flow EmbeddedSleepFlow" in out
    assert "Run terminated at " in out
    deadline = time.time() + 30
    while any(alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in pids), "processes of the terminated run are still alive"
    assert stack.status(run_id)["status"] == "ABORTED"
    assert run_id in stack.ferry("list-runs", FLOWS / "embedded_sleep_flow.py", "--aborted").stdout
    again = stack.ferry("terminate", run_id, check=False)
    assert again.returncode == 1 and "is not running" in again.stdout
    bad = stack.ferry("terminate", "not-a-run", check=False)
    assert bad.returncode == 2 and "begin with 'sfn-'" in bad.stderr  # a usage mistake


def test_a_second_stack_on_the_same_home_is_refused(stack):
    p = subprocess.run(
        [str(binary("ferry")), "up", "--port", str(free_port())],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 1
    assert "already running" in p.stderr and stack.url in p.stderr, p.stderr


def test_a_per_minute_schedule_fires_at_least_twice(tmp_path):
    # 60x: one virtual minute per real second.
    s = Stack(tmp_path / "home", extra_args=["--test-clock-speedup", "60"])
    try:
        s.deploy("embedded_cron_flow.py")
        deadline = time.time() + 240
        runs = []
        while time.time() < deadline:
            runs = json.loads(s.ferry("--json", "list-runs", FLOWS / "embedded_cron_flow.py").stdout)
            if len([r for r in runs if r["status"] == "SUCCEEDED"]) >= 2:
                break
            time.sleep(1)
        done = [r for r in runs if r["status"] == "SUCCEEDED"]
        assert len(done) >= 2, runs
        # Scheduled runs use the deploy-time defaults.
        run_id = done[-1]["run_id"]
        assert "label=tick" in s.ferry("logs", f"EmbeddedCronFlow/{run_id}/start").stdout
    finally:
        s.stop()


def wait_for_pids(stack: Stack, run_id: str, pid_file: Path) -> list:
    deadline = time.time() + 180
    while not pid_file.exists():
        assert time.time() < deadline, "the nap step never started"
        assert stack.status(run_id)["status"] == "RUNNING"
        time.sleep(0.5)
    pids = [int(x) for x in pid_file.read_text().split()]
    assert all(alive(p) for p in pids)
    return pids


def wait_dead(pids: list, timeout: float = 30) -> bool:
    deadline = time.time() + timeout
    while any(alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.2)
    return not any(alive(p) for p in pids)


def test_runs_interrupted_by_a_stop_or_a_crash_end_failed(tmp_path):
    home = tmp_path / "home"
    # A crash (SIGKILL): the tasks die with the stack, the next start marks the run FAILED.
    a = Stack(home)
    a.deploy("embedded_sleep_flow.py")
    crashed = a.trigger("embedded_sleep_flow.py", "--pid-file", tmp_path / "pids-a")
    pids = wait_for_pids(a, crashed, tmp_path / "pids-a")
    os.kill(a.proc.pid, signal.SIGKILL)
    a.proc.wait(10)
    a.log.close()
    assert wait_dead(pids), "task processes outlived a crashed stack"
    b = Stack(home, port=a.port)
    try:
        st = b.status(crashed)
        assert st["status"] == "FAILED" and st["error_name"] == "Ferry.StackStopped", st
        assert "stopped while the execution was running" in st["cause"], st
        # A graceful stop (SIGTERM) terminates the running tasks and marks their run FAILED.
        stopped = b.trigger("embedded_sleep_flow.py", "--pid-file", tmp_path / "pids-b")
        pids = wait_for_pids(b, stopped, tmp_path / "pids-b")
    finally:
        b.stop()
    assert wait_dead(pids), "task processes outlived a stopped stack"
    c = Stack(home, port=a.port)
    try:
        st = c.status(stopped)
        assert st["status"] == "FAILED" and st["error_name"] == "Ferry.StackStopped", st
        assert "was stopped while the execution was running" in st["cause"], st
    finally:
        c.stop()
