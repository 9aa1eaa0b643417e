"""The README's "read the run with the metaflow client" snippet, extracted from README.md and run
as written by bash in a fresh shell: HOME holds the stack's default home (`~/.ferry`), PATH has
`ferry` and a python3 with metaflow, METAFLOW_HOME is an empty folder (the developer's own
Metaflow config stays out), and no METAFLOW_* client variable or FERRY_HOME is set. Only the
placeholder namespace is replaced by the one `ferry deploy` printed."""

import re
import subprocess

import pytest

from conftest import ROOT, binary, tools_dir
from test_embedded_stack import USER, Stack

HELLO = ROOT / "examples" / "hello.py"


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if "ferry env" in b and "from metaflow import" in b]
    assert len(blocks) == 1, "README.md must have one ```sh block with `ferry env` and the metaflow client"
    return blocks[0]


@pytest.fixture(scope="module")
def user_home(tmp_path_factory):
    return tmp_path_factory.mktemp("readme-user")


@pytest.fixture(scope="module")
def stack(user_home):
    s = Stack(user_home / ".ferry")
    yield s
    s.stop()


def fresh_shell(user_home, script: str) -> subprocess.CompletedProcess:
    mf_home = user_home / "empty-metaflow-config"
    mf_home.mkdir(exist_ok=True)
    env = {
        "HOME": str(user_home),
        "USER": USER,
        "PATH": f"{binary('ferry').parent}:{tools_dir() / 'venv' / 'bin'}:/usr/bin:/bin",
        "METAFLOW_HOME": str(mf_home),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(["bash", "-c", script], env=env, cwd=user_home, capture_output=True, text=True, timeout=300)


def test_the_readme_client_snippet_works_in_a_fresh_shell(stack, user_home):
    out = stack.ferry("deploy", HELLO).stdout
    ns = re.search(r"namespace\(\"(production:[^\"]+)\"\)", out).group(1)
    run_file = stack.home / "run.txt"
    stack.ferry("trigger", HELLO, "--greeting", "Hej", "--run-id-file", run_file)
    assert stack.wait(run_file.read_text().strip(), timeout=300)["status"] == "SUCCEEDED"

    snippet = readme_snippet()
    placeholder = re.search(r"namespace\(\"(production:[^\"]+)\"\)", snippet).group(1)
    p = fresh_shell(user_home, snippet.replace(placeholder, ns))
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[-1] == "Hej from production", p.stdout + p.stderr

    # What the README's `eval` line fixes: without it the client does not find the flow.
    without = "\n".join(l for l in snippet.replace(placeholder, ns).splitlines() if "ferry env" not in l)
    p = fresh_shell(user_home, without)
    assert p.returncode != 0 and "MetaflowNotFound" in p.stderr, p.stdout + p.stderr
