"""`ferry deploy` ships the deployer's metaflow in the code package (`.mf_code/metaflow/`), so
a task image with python3 only can run Metaflow steps.

The embedded stack here runs its tasks with a bare venv (`FERRY_PYTHON`: no metaflow, no boto3,
no pip) and with `FERRY_BOOTSTRAP_SITE` holding `requests` and its requirements, as the AWS
wrapper bootstrap leaves them after `pip install --target` (linked from the tools venv: no
index is reached). The deployer's `ferry` uses the tools venv's python, which has metaflow.

- deployed without shipping metaflow (the embedded stack's default), the run fails: the bare
  python cannot import metaflow;
- deployed with `--package-metaflow`, the same flow succeeds, and its tasks imported metaflow
  from the extracted package, not from anything installed;
- the package holds `.mf_code/metaflow/` with the deployer's files, byte for byte.
"""

import json
import os
import subprocess
import tarfile

import pytest

from conftest import tools_dir
from test_embedded_stack import FLOWS, Stack

FLOW = "embedded_bare_image_flow.py"
TOOLS_PY = tools_dir() / "venv" / "bin" / "python"


def package_dirs(*names) -> list:
    code = "import importlib.util as u, os, sys\nfor n in sys.argv[1:]: print(os.path.dirname(u.find_spec(n).origin))"
    out = subprocess.run([str(TOOLS_PY), "-c", code, *names], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("ferry-bare")
    bare = root / "bare-venv"
    subprocess.run([str(TOOLS_PY), "-m", "venv", "--without-pip", str(bare)], check=True)
    bare_py = bare / "bin" / "python"
    probe = "import importlib.util as u; print([m for m in ('metaflow', 'boto3', 'requests', 'pip') if u.find_spec(m)])"
    found = subprocess.run([str(bare_py), "-c", probe], capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    assert found.stdout.strip() == "[]", found.stdout
    site = root / "ferry-site"
    site.mkdir()
    for d in package_dirs("requests", "urllib3", "idna", "certifi", "charset_normalizer"):
        (site / os.path.basename(d)).symlink_to(d)

    keys = ("FERRY_PYTHON", "FERRY_BOOTSTRAP_SITE", "PYTHONPATH")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(FERRY_PYTHON=str(bare_py), FERRY_BOOTSTRAP_SITE=str(site))
    os.environ.pop("PYTHONPATH", None)
    try:
        s = Stack(root / "home")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    # The deployer's own commands: the tools venv's python3 (first on PATH), with metaflow.
    for k in keys:
        s.env.pop(k, None)
    yield s
    s.stop()


def read_run(stack, run_id: str) -> dict:
    out = stack.client(
        "import json\n"
        "from metaflow import Run, namespace\n"
        "namespace(None)\n"
        f"r = Run('EmbeddedBareImageFlow/{run_id}')\n"
        "t = r['start'].task\n"
        "print(json.dumps({'metaflow_file': t['metaflow_file'].data, 'has_boto3': t['has_boto3'].data}))\n"
    )
    return json.loads(out.strip().splitlines()[-1])


def package_of(stack) -> tarfile.TarFile:
    record = json.loads(stack.ferry("--json", "describe", FLOWS / FLOW).stdout)
    key = json.dumps(record)
    # The record names the code package key (code/<sha256>.tgz) somewhere in it.
    start = key.index("code/")
    key = key[start : key.index(".tgz", start) + 4]
    return tarfile.open(stack.home / "blobs" / key)


def test_a_python3_only_image_runs_steps_with_the_shipped_metaflow(stack):
    # The embedded stack's default: nothing shipped, and the bare python has no metaflow.
    stack.deploy(FLOW)
    with package_of(stack) as tar:
        assert not any(n.startswith(".mf_code/") for n in tar.getnames())
    run_id = stack.trigger(FLOW)
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "FAILED", st
    err = stack.ferry("logs", f"EmbeddedBareImageFlow/{run_id}/start", "--stderr", check=False)
    assert "No module named 'metaflow'" in err.stdout + err.stderr, err.stdout + err.stderr

    stack.ferry("deploy", FLOWS / FLOW, "--package-metaflow")
    (mf_dir,) = package_dirs("metaflow")
    with package_of(stack) as tar:
        names = tar.getnames()
        shipped = [n for n in names if n.startswith(".mf_code/metaflow/")]
        assert ".mf_code/metaflow/flowspec.py" in shipped and len(shipped) > 100, names[:20]
        assert not any("__pycache__" in n or "/tutorials/" in n for n in shipped)
        assert any(n.endswith(".html") for n in shipped), "card templates are shipped"
        body = tar.extractfile(".mf_code/metaflow/flowspec.py").read()
    with open(os.path.join(mf_dir, "flowspec.py"), "rb") as f:
        assert body == f.read(), "the deployer's metaflow, byte for byte"

    run_id = stack.trigger(FLOW)
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "SUCCEEDED", (st, stack.ferry("logs", f"EmbeddedBareImageFlow/{run_id}/start", "--stderr", check=False).stdout)
    got = read_run(stack, run_id)
    assert got["has_boto3"] is False
    assert got["metaflow_file"].endswith("/.mf_code/metaflow/__init__.py"), got
    assert not got["metaflow_file"].startswith(mf_dir), got


def test_package_metaflow_flags_conflict(stack):
    p = stack.ferry("deploy", FLOWS / FLOW, "--package-metaflow", "--no-package-metaflow", check=False)
    assert p.returncode == 2, p.stdout + p.stderr
    help_text = stack.ferry("deploy", "--help").stdout
    assert "--no-package-metaflow" in help_text and ".mf_code/metaflow/" in help_text, help_text
