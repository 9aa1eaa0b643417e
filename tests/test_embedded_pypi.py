"""Stable @pypi environments on the embedded stack (docs/environments.md): resolved once at
deploy (uv + PyPI), wheels stored content-addressed in the stack's blob store, and every task
builds its interpreter from those files only.

- a flow with @pypi_base and a step-level @pypi runs; each step sees its own tomli version and
  an undeclared library (pytest, present in the image's Python) is not importable;
- the same deployment runs again with the package index unreachable (an index URL that refuses
  connections) and the host's environment cache emptied: from the stored wheels alone;
- a tampered stored wheel fails the task before user code runs, naming the file;
- an unresolvable requirement fails the deploy, naming the package, and deploys nothing;
- a deployer with only `pip install metaflow` (no uv anywhere) deploys: Ferry installs its pinned
  uv from PyPI into its cache once, saying so.

Deploys need PyPI (two tiny pure-Python wheels of tomli, ~12 kB each).
"""

import json
import os
import shutil
import socket
import subprocess

import pytest

from conftest import binary, tools_dir
from test_embedded_stack import FLOWS, Stack


def closed_port_url() -> str:
    """An index URL on a port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/simple"


BAD_INDEX = closed_port_url()
INDEX_VARS = ("PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("ferry-pypi")
    saved = {k: os.environ.get(k) for k in (*INDEX_VARS, "FERRY_CACHE_DIR")}
    # `ferry up` and every task it starts: no reachable index, a host cache of their own.
    os.environ.update({k: BAD_INDEX for k in INDEX_VARS})
    os.environ["FERRY_CACHE_DIR"] = str(root / "cache")
    try:
        s = Stack(root / "home")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    # The deployer's commands (this test's `ferry deploy`) reach PyPI.
    for k in INDEX_VARS:
        s.env.pop(k, None)
    s.cache = root / "cache"
    yield s
    s.stop()


def describe(stack, flow_file) -> dict:
    return json.loads(stack.ferry("--json", "describe", FLOWS / flow_file).stdout)


def artifacts(stack, run_id: str) -> dict:
    out = stack.client(
        "import json\n"
        "from metaflow import Run, namespace\n"
        "namespace(None)\n"
        f"r = Run('EmbeddedPypiFlow/{run_id}')\n"
        "pairs = [('start', 'start_tomli'), ('start', 'start_undeclared'), ('end', 'end_tomli'), ('end', 'end_undeclared')]\n"
        "print(json.dumps({k: getattr(r[s].task.data, k) for s, k in pairs}))\n"
    )
    return json.loads(out.strip().splitlines()[-1])


def test_steps_run_in_their_own_locked_environments_then_again_without_an_index(stack):
    stack.deploy("embedded_pypi_flow.py")
    record = describe(stack, "embedded_pypi_flow.py")
    envs = record["python_envs"]
    assert set(envs) == {"start", "end"}, envs
    assert all(e["kind"] == "pypi" for e in envs.values())
    locks = record["locks"]
    versions = {
        step: [(w["name"], w["version"]) for w in locks[e["lock"]["key"]]["platforms"]["linux-x86_64"]]
        for step, e in envs.items()
    }
    assert versions == {"start": [("tomli", "2.0.1")], "end": [("tomli", "2.0.2")]}, versions
    for lock in locks.values():
        assert set(lock["platforms"]) == {"linux-x86_64", "linux-aarch64"}
        for w in lock["platforms"]["linux-x86_64"]:
            assert w["key"] == f"envs/wheels/{w['sha256']}/{w['filename']}"
            assert (stack.home / "blobs" / w["key"]).is_file()

    expected = {
        "start_tomli": "2.0.1",
        "start_undeclared": "not importable",
        "end_tomli": "2.0.2",
        "end_undeclared": "not importable",
    }
    run_id = stack.trigger("embedded_pypi_flow.py")
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "SUCCEEDED", (st, stack.ferry("logs", f"EmbeddedPypiFlow/{run_id}/start", "--stderr", check=False).stdout)
    assert artifacts(stack, run_id) == expected
    built = sorted(p.name for p in (stack.cache / "envs").iterdir() if not p.name.startswith("."))
    assert len(built) == 2, built

    # Again, from the stored wheels alone: empty host cache, index refusing connections.
    shutil.rmtree(stack.cache / "envs")
    run_id = stack.trigger("embedded_pypi_flow.py")
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "SUCCEEDED", (st, stack.ferry("logs", f"EmbeddedPypiFlow/{run_id}/start", "--stderr", check=False).stdout)
    assert artifacts(stack, run_id) == expected
    rebuilt = sorted(p.name for p in (stack.cache / "envs").iterdir() if not p.name.startswith("."))
    assert rebuilt == built


def test_a_tampered_stored_wheel_fails_the_task_before_user_code(stack):
    stack.deploy("embedded_pypi_tamper_flow.py")
    record = describe(stack, "embedded_pypi_tamper_flow.py")
    (lock,) = record["locks"].values()
    (wheel,) = lock["platforms"]["linux-x86_64"]
    path = stack.home / "blobs" / wheel["key"]
    path.write_bytes(path.read_bytes() + b"tampered")

    run_id = stack.trigger("embedded_pypi_tamper_flow.py")
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "FAILED", st
    assert st["failing_step"] == "start", st
    err = stack.ferry("logs", f"EmbeddedPypiTamperFlow/{run_id}/start", "--stderr").stdout
    assert wheel["filename"] in err and "does not match its sha256" in err, err
    out = stack.ferry("logs", f"EmbeddedPypiTamperFlow/{run_id}/start", check=False).stdout
    assert "user code of start runs" not in out, out


def test_an_unresolvable_requirement_fails_the_deploy_and_deploys_nothing(stack):
    p = stack.ferry("deploy", FLOWS / "embedded_pypi_conflict_flow.py", check=False)
    assert p.returncode != 0, p.stdout + p.stderr
    assert "tomli" in p.stderr and "99.0.0" in p.stderr, p.stderr
    assert "Nothing was deployed." in p.stderr, p.stderr
    missing = stack.ferry("--json", "describe", FLOWS / "embedded_pypi_conflict_flow.py", check=False)
    assert missing.returncode != 0, missing.stdout


def test_a_deployer_with_only_pip_install_metaflow_gets_a_pinned_uv(stack, tmp_path):
    # The deployer's Python: a fresh venv with pip and metaflow (as the tests pin it), no uv.
    tools_py = tools_dir() / "venv" / "bin" / "python"
    venv = tmp_path / "deployer-venv"
    subprocess.run([str(tools_py), "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    version = subprocess.run(
        [str(tools_py), "-c", "import importlib.metadata as m; print(m.version('metaflow'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # Test setup only: the tools' uv installs metaflow (and its requirements) from PyPI fast.
    subprocess.run(
        [str(tools_dir() / "venv" / "bin" / "uv"), "pip", "install", "--quiet", "--python", str(py), f"metaflow=={version}"],
        check=True,
    )
    assert subprocess.run([str(py), "-c", "import uv"], capture_output=True).returncode != 0
    path = f"{binary('ferry').parent}:{venv / 'bin'}:/usr/bin:/bin"
    assert shutil.which("uv", path=path) is None, "the deployer's PATH must lack uv"

    cache = tmp_path / "deployer-cache"
    env = {**stack.env, "PATH": path, "FERRY_PYTHON": str(py), "FERRY_CACHE_DIR": str(cache)}
    env.pop("FERRY_UV", None)

    def deploy():
        return subprocess.run(
            [str(binary("ferry")), "deploy", str(FLOWS / "embedded_pypi_flow.py")],
            env=env, capture_output=True, text=True, timeout=600,
        )

    first = deploy()
    assert first.returncode == 0, first.stdout + first.stderr
    said = f"installing uv==0.13.9 from PyPI into {cache / 'tools' / 'uv-0.13.9'} (once)"
    assert said in first.stderr, first.stderr
    assert (cache / "tools" / "uv-0.13.9" / "bin" / "uv").is_file()
    assert "Environment of step end: tomli==2.0.2" in first.stderr, first.stderr
    # Installed once: the next deploy uses it without a word.
    second = deploy()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "installing uv" not in second.stderr, second.stderr
