"""@project on the embedded stack: two flows of one project and branch share a production
namespace, and the second reads the first's artifact through `Flow(...).latest_run`; the same
flow deployed on another branch, or with --production, is a separate deployment and namespace.
"""

import json

import pytest

from conftest import ROOT
from test_embedded_stack import Stack

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry-project") / "home")
    yield s
    s.stop()


def deploy(stack, flow, *options):
    out = stack.ferry("--json", "deploy", EXAMPLES / flow, *options).stdout
    result = json.loads(out)
    assert result["status"] == "ok", result
    return result


def run(stack, flow, *options):
    run_file = stack.home / f"{flow}.run"
    stack.ferry("trigger", EXAMPLES / flow, *options, "--run-id-file", run_file)
    run_id = run_file.read_text().strip()
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "SUCCEEDED", st
    return run_id


def test_two_flows_of_one_branch_share_a_namespace_and_an_artifact(stack):
    train = deploy(stack, "project_train_flow.py", "--branch", "demo")
    score = deploy(stack, "project_score_flow.py", "--branch", "demo")
    assert train["deployment"] == "churn.test.demo.ChurnTrainFlow"
    assert score["deployment"] == "churn.test.demo.ChurnScoreFlow"
    assert train["namespace"] == score["namespace"]
    assert train["namespace"].startswith("production:mfprj-")

    train_run = run(stack, "project_train_flow.py", "--branch", "demo")
    score_run = run(stack, "project_score_flow.py", "--branch", "demo")

    out = stack.client(
        f"""
from metaflow import Run, namespace
namespace({train['namespace']!r})
score = Run('ChurnScoreFlow/{score_run}')
train = Run('ChurnTrainFlow/{train_run}')
assert score.data.model_run == train.pathspec, (score.data.model_run, train.pathspec)
assert score.data.model == train.data.model
assert 'project:churn' in score.system_tags and 'project_branch:test.demo' in score.system_tags
print('ok')
"""
    )
    assert out.strip() == "ok"


def test_branch_and_production_are_separate_deployments_and_namespaces(stack):
    feature = deploy(stack, "project_train_flow.py", "--branch", "other")
    prod = deploy(stack, "project_train_flow.py", "--production")
    demo = deploy(stack, "project_train_flow.py", "--branch", "demo")
    assert prod["deployment"] == "churn.prod.ChurnTrainFlow"
    assert len({feature["deployment"], prod["deployment"], demo["deployment"]}) == 3
    assert len({feature["namespace"], prod["namespace"], demo["namespace"]}) == 3
    listed = json.loads(stack.ferry("--json", "deployments").stdout)
    names = json.dumps(listed)
    for d in (feature, prod, demo):
        assert d["deployment"] in names
