"""metaflow-ferry (python/metaflow-ferry) with the real metaflow on the embedded stack:
`python flow.py ferry create/trigger/list-runs/status/delete` and `Deployer(...).ferry()` with
`DeployedFlow`/`TriggeredRun`, the production-token texts of `step-functions create`, @project
branches, Metaflow issue #2619 (two flows, different required parameters), and one clear error
for a broken flow file and for a missing `ferry`.

The package is pip-installed (no build isolation: the venv's setuptools) into a folder of this
session that every Python process here gets on PYTHONPATH, so the tools venv stays unchanged and
the tests always run the checkout's code.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ROOT, binary, tools_dir
from test_embedded_stack import USER, Stack

FLOWS = ROOT / "tests" / "flows"
PACKAGE = ROOT / "python" / "metaflow-ferry"
FLOW = FLOWS / "pyferry_flow.py"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """metaflow-ferry installed with pip into a folder of its own."""
    target = tmp_path_factory.mktemp("metaflow-ferry-site")
    # setuptools builds in the source folder (build/, *.egg-info): build a copy, keep the
    # checkout clean.
    source = tmp_path_factory.mktemp("metaflow-ferry-src") / "metaflow-ferry"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    pip = [str(tools_dir() / "venv" / "bin" / "python"), "-m", "pip"]
    p = subprocess.run(
        [*pip, "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert p.returncode == 0, "pip install python/metaflow-ferry failed:\n" + p.stdout + p.stderr
    return target


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry-py") / "home")
    yield s
    s.stop()


class Py:
    """Python processes of a metaflow user: the venv's python with metaflow-ferry installed, the
    metaflow client pointed at the stack, `ferry` found through METAFLOW_FERRY_BIN."""

    def __init__(self, stack, site, workdir):
        self.stack = stack
        self.workdir = workdir
        self.env = dict(stack.env)
        self.env.update(
            PYTHONPATH=str(site),
            METAFLOW_FERRY_BIN=str(binary("ferry")),
            METAFLOW_DEFAULT_METADATA="service",
            METAFLOW_SERVICE_URL=stack.url,
            METAFLOW_DEFAULT_DATASTORE="local",
            METAFLOW_DATASTORE_SYSROOT_LOCAL=str(stack.home / "datastore"),
        )
        self.python = str(tools_dir() / "venv" / "bin" / "python")

    def run(self, *args, env=None, check=True, timeout=600):
        e = dict(self.env)
        e.update(env or {})
        p = subprocess.run([self.python, *map(str, args)], env=e, cwd=self.workdir,
                           capture_output=True, text=True, timeout=timeout)
        if check:
            assert p.returncode == 0, f"{args} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    def code(self, source, env=None, check=True):
        """Run Python code; returns the JSON object its last stdout line prints."""
        p = self.run("-c", textwrap.dedent(source), env=env, check=check)
        lines = p.stdout.strip().splitlines()
        assert lines, p.stderr
        return json.loads(lines[-1])


@pytest.fixture(scope="module")
def py(stack, site, tmp_path_factory):
    return Py(stack, site, tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def deployed(py):
    """PyFerryFlow deployed with `Deployer(...).ferry().create()`: its DeployedFlow's fields."""
    return py.code(
        f"""
        import json
        from metaflow import Deployer
        d = Deployer({str(FLOW)!r}, show_output=False).ferry().create()
        dry = Deployer({str(FLOW)!r}, show_output=False).ferry().create(only_json=True)
        print(json.dumps({{"name": d.name, "flow_name": d.flow_name, "metadata": d.metadata,
                          "token": d.production_token, "definition": dry.definition,
                          "no_definition": d.definition}}))
        """
    )


def test_the_package_is_versioned_with_ferry(site):
    cargo = (ROOT / "Cargo.toml").read_text()
    version = re.search(r'\[workspace\.package\][^\[]*?\nversion = "([^"]+)"', cargo).group(1)
    pyproject = (PACKAGE / "pyproject.toml").read_text()
    assert re.search(r'\nversion = "([^"]+)"', pyproject).group(1) == version
    assert (site / f"metaflow_ferry-{version}.dist-info").is_dir(), sorted(os.listdir(site))


def test_python_flow_ferry_create_then_trigger_runs_the_flow(py, stack, tmp_path):
    out = py.run(FLOWS / "pyferry_cli_flow.py", "ferry", "create")
    text = out.stdout + out.stderr
    m = re.search(r'namespace\("(production:pyferrycliflow-0-[a-z]+)"\)', text)
    assert m, text
    namespace = m.group(1)
    token = namespace.split(":", 1)[1]
    # step-functions create's token block, with this command in it.
    assert "The namespace of this production flow is\n    " + namespace in text, text
    assert "they need to call\n    ferry create --authorize " + token + "\n" in text, text
    assert "State Machine PyFerryCliFlow for flow PyFerryCliFlow pushed to" in text, text

    run_file = tmp_path / "run-id"
    out = py.run(FLOWS / "pyferry_cli_flow.py", "ferry", "trigger", "--num", "7",
                 "--run-id-file", run_file)
    run_id = run_file.read_text().strip()
    assert run_id.startswith("sfn-"), run_id
    assert f"Workflow PyFerryCliFlow triggered on Ferry (run-id {run_id})." in out.stderr, out.stderr
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "SUCCEEDED", st

    got = py.code(
        f"""
        import json
        from metaflow import Run, namespace
        namespace({namespace!r})
        print(json.dumps(Run("PyFerryCliFlow/{run_id}").data.result))
        """
    )
    assert got == 42

    out = py.run(FLOWS / "pyferry_cli_flow.py", "ferry", "list-runs", "--succeeded")
    assert re.search(rf"{run_id} startedAt:'\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00' "
                     rf"stoppedAt:'[^']+' SUCCEEDED", out.stderr), out.stderr
    out = py.run(FLOWS / "pyferry_cli_flow.py", "ferry", "list-runs", "--failed")
    assert "No FAILED executions for PyFerryCliFlow found on Ferry." in out.stderr, out.stderr
    out = py.run(FLOWS / "pyferry_cli_flow.py", "ferry", "status", run_id)
    assert f"Run {run_id} of PyFerryCliFlow: SUCCEEDED" in out.stderr, out.stderr

    # A parameter the flow does not have is the flow CLI's own usage error.
    out = py.run(FLOWS / "pyferry_cli_flow.py", "ferry", "trigger", "--nope", "1", check=False)
    assert out.returncode == 2 and "no such option" in out.stderr.lower(), out.stderr


def test_production_tokens_follow_step_functions_create(py, tmp_path):
    flow = tmp_path / "token_rules_flow.py"
    flow.write_text(
        "from metaflow import FlowSpec, step\n\n\n"
        "class TokenRulesFlow(FlowSpec):\n"
        "    @step\n    def start(self):\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n\n\n"
        "if __name__ == '__main__':\n    TokenRulesFlow()\n"
    )
    first = py.run(flow, "ferry", "create")
    token = re.search(r"production:(tokenrulesflow-0-[a-z]+)", first.stderr).group(1)

    bob = {"METAFLOW_USER": "bob", "USER": "bob", "METAFLOW_HOME": str(tmp_path / "bob")}
    refused = py.run(flow, "ferry", "create", env=bob, check=False)
    text = refused.stderr
    assert refused.returncode == 1, text
    for line in [
        f"There is an existing version of TokenRulesFlow on the Ferry embedded stack which was "
        f"deployed by the user {USER}.",
        "To deploy a new version of this flow, you need to use the same production token that "
        "they used.",
        "Please reach out to them to get the token. Once you have it, call this command:",
        "    ferry create --authorize MY_TOKEN",
        "Incorrect production token",
        "Try again with the correct production token.",
    ]:
        assert line in text, text
    assert "Traceback" not in text, text

    ok = py.run(flow, "ferry", "create", "--authorize", token, env=bob)
    assert f"production:{token}" in ok.stderr, ok.stderr
    # Bob's machine now remembers the token (METAFLOW_HOME), as Metaflow does.
    again = py.run(flow, "ferry", "create", env=bob)
    assert f"production:{token}" in again.stderr, again.stderr
    assert py.run(flow, "ferry", "delete", env=bob).returncode == 0


def test_deployer_create_trigger_wait_and_read_the_result(py, deployed):
    assert deployed["name"] == "PyFerryFlow" and deployed["flow_name"] == "PyFerryFlow"
    assert deployed["metadata"].startswith("service@"), deployed
    assert deployed["token"].startswith("pyferryflow-0-"), deployed
    assert deployed["definition"]["StartAt"] == "start" and deployed["no_definition"] is None
    got = py.code(
        """
        import json
        from metaflow import DeployedFlow
        deployed = DeployedFlow.from_deployment("PyFerryFlow", impl="ferry")
        run = deployed.trigger(num=7)
        seen = [run.status]
        run.wait_for_completion(check_interval=1, timeout=300)
        seen.append(run.status)
        print(json.dumps({"seen": seen, "result": run.run.data.result, "pathspec": run.pathspec,
                          "running": run.is_running}))
        """
    )
    assert got["seen"] == ["RUNNING", "SUCCEEDED"], got
    assert got["result"] == 42
    assert got["pathspec"].startswith("PyFerryFlow/sfn-")
    assert got["running"] is False


def test_deployer_terminate_stops_a_sleeping_run(py, deployed):
    got = py.code(
        """
        import json, time
        from metaflow import DeployedFlow
        deployed = DeployedFlow.from_ferry("PyFerryFlow")
        run = deployed.trigger(sleep=300)
        run.wait_for_run(check_interval=0.5, timeout=120)   # the start step is sleeping
        began = time.time()
        stopped = run.terminate()
        while run.status == "RUNNING" and time.time() - began < 60:
            time.sleep(0.5)
        print(json.dumps({"stopped": stopped, "status": run.status, "took": time.time() - began,
                          "again": run.terminate(),
                          "aborted": [r.pathspec for r in deployed.list_runs(states=["ABORTED"])],
                          "pathspec": run.pathspec}))
        """
    )
    assert got["stopped"] is True and got["status"] == "ABORTED", got
    assert got["took"] < 30, got
    assert got["again"] is False, got
    assert got["pathspec"] in got["aborted"], got


def test_from_deployment_in_a_fresh_process_finds_lists_and_triggers_it(py, deployed):
    got = py.code(
        """
        import json
        from metaflow import DeployedFlow
        names = [d.name for d in DeployedFlow.list_deployed_flows(impl="ferry")]
        mine = [d.name for d in DeployedFlow.list_deployed_flows("PyFerryFlow", impl="ferry")]
        other = [d.name for d in DeployedFlow.list_ferry("NoSuchFlow")]
        deployed = DeployedFlow.from_deployment("PyFerryFlow", impl="ferry")
        run = deployed.trigger(num=3)
        run.wait_for_completion(check_interval=1, timeout=300)
        again = DeployedFlow.get_triggered_run("PyFerryFlow", run.pathspec.split("/")[1],
                                               impl="ferry")
        try:
            DeployedFlow.from_deployment("NoSuchFlow", impl="ferry")
            missing = None
        except Exception as e:
            missing = [type(e).__name__, e.kind, e.message]
        print(json.dumps({"names": names, "mine": mine, "other": other,
                          "flow_name": deployed.flow_name, "status": again.status,
                          "result": again.run.data.result, "missing": missing}))
        """
    )
    assert "PyFerryFlow" in got["names"] and got["mine"] == ["PyFerryFlow"], got
    assert got["other"] == []
    assert got["flow_name"] == "PyFerryFlow"
    assert got["status"] == "SUCCEEDED" and got["result"] == 18, got
    kind, message = got["missing"][1:]
    assert got["missing"][0] == "FerryCommandError" and kind == "not_found", got
    assert "NoSuchFlow" in message


def test_a_project_flow_on_a_branch(py):
    flow = FLOWS / "pyferry_project_flow.py"
    got = py.code(
        f"""
        import json
        from metaflow import Deployer, DeployedFlow
        d = Deployer({str(flow)!r}, branch="py_b", show_output=False).ferry().create()
        run = d.trigger(word="hi")
        run.wait_for_completion(check_interval=1, timeout=300)
        found = DeployedFlow.from_deployment(d.name, impl="ferry")
        second = found.trigger()
        second.wait_for_completion(check_interval=1, timeout=300)
        listed = [x.name for x in DeployedFlow.list_deployed_flows("PyFerryProjectFlow",
                                                                   impl="ferry")]
        print(json.dumps({{"name": d.name, "shout": run.run.data.shout,
                          "default": second.run.data.shout, "listed": listed,
                          "tags": sorted(run.run.system_tags)}}))
        """
    )
    assert got["name"] == "pyferry.test.py_b.PyFerryProjectFlow", got
    assert got["shout"] == "HI" and got["default"] == "HELLO", got
    assert got["listed"] == [got["name"]], got
    assert "project_branch:test.py_b" in got["tags"], got
    # The flow's CLI passes Metaflow's top-level --branch on to Ferry.
    out = py.run(flow, "--branch", "py_b", "ferry", "list-runs", "--succeeded")
    assert out.stderr.count(" SUCCEEDED") == 2, out.stderr


def test_two_flows_with_different_required_parameters_each_get_their_own(py):
    """Metaflow issue #2619: triggering several DeployedFlows from one process mixed up their
    required parameters."""
    a, b = FLOWS / "pyferry_required_a.py", FLOWS / "pyferry_required_b.py"
    got = py.code(
        f"""
        import json
        from metaflow import Deployer, DeployedFlow
        Deployer({str(a)!r}, show_output=False).ferry().create()
        Deployer({str(b)!r}, show_output=False).ferry().create()
        fa = DeployedFlow.from_deployment("PyFerryRequiredA", impl="ferry")
        fb = DeployedFlow.from_deployment("PyFerryRequiredB", impl="ferry")
        ra = fa.trigger(alpha="x")
        rb = fb.trigger(beta=5)
        errors = {{}}
        for key, call in [("b_without_beta", lambda: fb.trigger()),
                          ("a_with_beta", lambda: fa.trigger(alpha="y", beta=1))]:
            try:
                call()
            except Exception as e:
                errors[key] = [type(e).__name__, e.kind, e.message]
        ra.wait_for_completion(check_interval=1, timeout=300)
        rb.wait_for_completion(check_interval=1, timeout=300)
        deleted = fa.delete()
        try:
            DeployedFlow.from_deployment("PyFerryRequiredA", impl="ferry")
            after = None
        except Exception as e:
            after = e.kind
        print(json.dumps({{"a": ra.run.data.seen, "b": rb.run.data.seen, "errors": errors,
                          "deleted": deleted, "after": after}}))
        """
    )
    assert got["a"] == "alpha=x" and got["b"] == "beta=5", got
    kind_b, msg_b = got["errors"]["b_without_beta"][1:]
    assert kind_b == "usage" and "--beta" in msg_b and "alpha" not in msg_b, got
    kind_a, msg_a = got["errors"]["a_with_beta"][1:]
    assert kind_a == "usage" and "--beta" in msg_a and "--alpha" in msg_a, got
    assert got["deleted"] is True and got["after"] == "not_found", got


def test_a_broken_flow_file_gives_one_clear_error(py, tmp_path):
    broken = tmp_path / "broken_flow.py"
    broken.write_text(
        "from metaflow import FlowSpec, step\n\n"
        "class BrokenFlow(FlowSpec):\n"
        "    @step\n"
        "    def start(self)\n"
        "        self.next(self.end)\n"
    )
    got = py.code(
        f"""
        import json
        from metaflow import Deployer
        try:
            Deployer({str(broken)!r}).ferry()
            print(json.dumps(None))
        except Exception as e:
            print(json.dumps([type(e).__name__, e.headline, e.message]))
        """
    )
    assert got[0] == "FerryFlowError", got
    assert "broken_flow.py (line 5): SyntaxError" in got[2], got
    out = py.run(broken, "ferry", "create", check=False)
    assert out.returncode == 1 and "SyntaxError" in out.stderr, out.stderr
    assert "site-packages/metaflow" not in out.stderr, out.stderr

    # Importable, but not a flow Ferry can deploy (no `if __name__ == "__main__"` block):
    # Ferry's own words, raised as one error.
    no_main = tmp_path / "no_main_flow.py"
    no_main.write_text(
        "from metaflow import FlowSpec, step\n\n"
        "class NoMainFlow(FlowSpec):\n"
        "    @step\n    def start(self):\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n"
    )
    got = py.code(
        f"""
        import json
        from metaflow import Deployer
        try:
            Deployer({str(no_main)!r}, show_output=False).ferry().create()
            print(json.dumps(None))
        except Exception as e:
            print(json.dumps([type(e).__name__, e.message]))
        """
    )
    assert got[0] in ("FerryFlowError", "FerryCommandError"), got
    assert "__main__" in got[1], got


def test_a_missing_ferry_binary_gives_one_clear_error(py):
    lost = {"METAFLOW_FERRY_BIN": "", "PATH": f"{Path(py.python).parent}:/usr/bin:/bin"}
    got = py.code(
        f"""
        import json
        from metaflow import Deployer
        try:
            Deployer({str(FLOW)!r}).ferry()
            print(json.dumps(None))
        except Exception as e:
            print(json.dumps([type(e).__name__, e.message]))
        """,
        env=lost,
    )
    assert got[0] == "FerryNotFound", got
    for hint in ["No `ferry` on PATH and METAFLOW_FERRY_BIN is not set.",
                 "cargo install --locked --path cli", "export METAFLOW_FERRY_BIN="]:
        assert hint in got[1], got
    out = py.run(FLOW, "ferry", "create", env=lost, check=False)
    assert out.returncode == 1, out.stderr
    assert "Ferry's command line is missing" in out.stderr, out.stderr
    assert "cargo install --locked --path cli" in out.stderr and "Traceback" not in out.stderr

    wrong = {"METAFLOW_FERRY_BIN": "/nonexistent/ferry"}
    out = py.run(FLOW, "ferry", "list-runs", env=wrong, check=False)
    assert out.returncode == 1, out.stderr
    assert "METAFLOW_FERRY_BIN is '/nonexistent/ferry', which is not an executable file" in out.stderr


def test_the_notebook_example_runs_as_written(py):
    """examples/notebooks/ferry_deployer.ipynb, its code cells in order, in its own folder."""
    notebook = ROOT / "examples" / "notebooks" / "ferry_deployer.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    code = [("".join(c["source"])) for c in cells if c["cell_type"] == "code"]
    # Each cell's last expression is what a notebook would show: collect them.
    program = "import json\nshown = []\n"
    for cell in code:
        lines = cell.rstrip().splitlines()
        program += "\n".join(lines[:-1]) + "\nshown.append(repr((" + lines[-1].split("  #")[0] + ")))\n"
    program += "print(json.dumps(shown))\n"
    p = subprocess.run([py.python, "-c", program], env=py.env, cwd=notebook.parent,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    shown = json.loads(p.stdout.strip().splitlines()[-1])
    assert shown[0].startswith("('HelloFlow', 'helloflow-0-"), shown
    assert shown[1:4] == ["'RUNNING'", "'SUCCEEDED'", "'Hej from production'"], shown
    assert shown[4].startswith("['HelloFlow/sfn-"), shown
