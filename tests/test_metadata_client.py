"""The real metaflow 2.19.39 client against `metadata-api` (contract metadata-api.md §9).

For each store adapter (SQLite; DynamoDB on moto) this starts the binary on a free 127.0.0.1
port with an API key, registers Argo-style string ids (`init`/`step` with `--run-id argo-abc`),
runs a foreach flow with a join and a step that fails once and is retried, then checks the
result through the client API: namespaces, latest_run, attempts, tag mutation (including the
422 on a system tag), aliases and `filtered_tasks` (parent_task_pathspecs).
"""

import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

import boto3
import pytest

from conftest import binary, free_port, tools_dir, unique, wait_for_port

API_KEY = "probe-key-123"

FLOW = textwrap.dedent(
    '''
    from metaflow import FlowSpec, current, retry, step


    class ProbeFlow(FlowSpec):
        """Fan out over three letters; the "b" branch fails on its first attempt."""

        @step
        def start(self):
            self.letters = ["a", "b", "c"]
            self.next(self.shout, foreach="letters")

        @retry(times=1, minutes_between_retries=0)
        @step
        def shout(self):
            if self.input == "b" and current.retry_count == 0:
                raise RuntimeError("the first attempt of b fails on purpose")
            self.loud = self.input.upper() * 2
            self.next(self.gather)

        @step
        def gather(self, inputs):
            self.joined = "".join(sorted(i.loud for i in inputs))
            self.next(self.end)

        @step
        def end(self):
            print("joined", self.joined)


    if __name__ == "__main__":
        ProbeFlow()
    '''
)

CHECKS = textwrap.dedent(
    '''
    import json, os, urllib.request
    from metaflow import Flow, Metaflow, Run, Step, Task, default_namespace, get_namespace, namespace
    from metaflow.exception import MetaflowNamespaceMismatch, MetaflowNotFound

    assert get_namespace() == "user:alice", get_namespace()
    assert [f.id for f in Metaflow().flows] == ["ProbeFlow"]
    r = Flow("ProbeFlow").latest_run
    assert r.id != "argo-abc" and r.id.isdigit(), r.id
    assert "mytag" in r.user_tags, r.user_tags
    assert "user:alice" in r.system_tags and "runtime:dev" in r.system_tags, r.system_tags
    assert r.successful and r.finished
    assert r.data.joined == "AABBCC", r.data.joined
    assert sorted(s.id for s in r) == ["end", "gather", "shout", "start"]

    shout = list(Step(r.pathspec + "/shout"))
    assert len(shout) == 3
    retried = [t for t in shout if t.metadata_dict.get("attempt") == "1"]
    assert len(retried) == 1, [t.metadata_dict.get("attempt") for t in shout]
    t = retried[0]
    assert t.current_attempt == 1 and t["loud"].data == "BB"
    assert Task(t.pathspec, attempt=0).finished is False
    assert Task(t.pathspec, attempt=1).finished is True

    namespace("user:nobody")
    for make in (lambda: Run(r.pathspec), lambda: Flow("ProbeFlow")):
        try:
            make()
            raise SystemExit("expected a namespace mismatch")
        except MetaflowNamespaceMismatch:
            pass
    namespace(None)
    Run(r.pathspec)
    default_namespace()
    try:
        Run("ProbeFlow/999999")
        raise SystemExit("expected not found")
    except MetaflowNotFound:
        pass

    r.add_tag("extra")
    assert "extra" in Run(r.pathspec).user_tags
    r.replace_tag("extra", "extra2")
    tags = Run(r.pathspec).user_tags
    assert "extra2" in tags and "extra" not in tags, tags
    r.remove_tag("extra2")
    assert "extra2" not in Run(r.pathspec).user_tags
    try:
        r.remove_tag("user:alice")
        raise SystemExit("expected a 422")
    except SystemExit:
        raise
    except Exception as e:
        assert "system tags" in str(e), str(e)
    assert "user:alice" in Run(r.pathspec).system_tags
    assert [x.id for x in Flow("ProbeFlow").runs("mytag")] == [r.id]

    a = Run("ProbeFlow/argo-abc")
    assert a.id == "argo-abc"
    assert Task("ProbeFlow/argo-abc/start/t-start")["letters"].data == ["a", "b", "c"]

    j = Step(r.pathspec + "/gather").task
    assert sorted(j.parent_task_pathspecs) == sorted(t.pathspec for t in shout)

    req = urllib.request.Request(
        os.environ["METAFLOW_SERVICE_URL"] + "/flows/ProbeFlow/runs/" + r.id,
        headers={"x-api-key": os.environ["METAFLOW_SERVICE_AUTH_KEY"]},
    )
    assert json.load(urllib.request.urlopen(req))["status"] == "completed"
    print("CHECKS OK")
    '''
)


def create_table(moto_url: str) -> str:
    name = unique("ferry-md")
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
    return name


@pytest.fixture(params=["sqlite", "dynamodb"])
def service(request, tmp_path):
    """A running metadata-api over the parametrised store; yields its base URL."""
    port = free_port()
    args = [str(binary("metadata-api")), "--listen", f"127.0.0.1:{port}", "--api-key", API_KEY]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_METADATA_")}
    if request.param == "sqlite":
        args += ["--sqlite", str(tmp_path / "metadata.sqlite")]
    else:
        moto_url = request.getfixturevalue("moto_url")
        args += ["--dynamodb", create_table(moto_url)]
        env.update(
            AWS_ENDPOINT_URL=moto_url,
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_REGION="us-east-1",
        )
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def client_env(url: str, tmp_path) -> dict:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("METAFLOW_", "AWS_")) and k not in ("USER", "USERNAME")
    }
    venv_bin = str(tools_dir() / "venv" / "bin")
    env.update(
        PATH=venv_bin + os.pathsep + env.get("PATH", ""),
        HOME=str(home),
        METAFLOW_HOME=str(home),
        METAFLOW_USER="alice",
        USERNAME="alice",
        METAFLOW_DEFAULT_METADATA="service",
        METAFLOW_SERVICE_URL=url,
        METAFLOW_SERVICE_AUTH_KEY=API_KEY,
        METAFLOW_DEFAULT_DATASTORE="local",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(tmp_path / "ds"),
        METAFLOW_DEFAULT_ENVIRONMENT="local",
        PYTHONUNBUFFERED="1",
    )
    return env


def run(cmd, env, cwd, timeout=240):
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{cmd} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.stdout + p.stderr


def test_real_client_against_metadata_api(service, tmp_path):
    flow = tmp_path / "probe_flow.py"
    flow.write_text(FLOW)
    env = client_env(service, tmp_path)
    py = str(tools_dir() / "venv" / "bin" / "python")
    top = [py, str(flow), "--no-pylint", "--quiet"]
    # Argo-style string ids first, so the real run below is the newest.
    run(top + ["init", "--run-id", "argo-abc", "--task-id", "t-params"], env, tmp_path)
    run(
        top
        + [
            "step", "start", "--run-id", "argo-abc", "--task-id", "t-start",
            "--input-paths", "argo-abc/_parameters/t-params",
        ],
        env,
        tmp_path,
    )
    out = run(top + ["run", "--tag", "mytag"], env, tmp_path)
    assert "joined AABBCC" in out, out
    checks = tmp_path / "checks.py"
    checks.write_text(CHECKS)
    out = run([py, str(checks)], env, tmp_path)
    assert "CHECKS OK" in out, out


def test_client_without_api_key_is_refused(service):
    req = urllib.request.Request(service + "/flows")
    try:
        urllib.request.urlopen(req)
        raise AssertionError("expected 401")
    except urllib.error.HTTPError as e:
        assert e.code == 401
        assert "x-api-key" in json.loads(e.read())["message"]
