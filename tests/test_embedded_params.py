"""Trigger parameters arrive byte-exact, including ones longer than the Batch container overrides
can carry (those travel as a content-addressed blob the task wrapper verifies)."""

import json

import pytest

from conftest import ROOT
from test_embedded_stack import Stack

HELLO = ROOT / "examples" / "hello.py"
TRICKY = "$HOME `echo hi` \"quoted\" café \\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry-params") / "home")
    s.ferry("deploy", HELLO)
    yield s
    s.stop()


def greeting_of_run(stack, greeting):
    run_file = stack.home / "run.txt"
    stack.ferry("trigger", HELLO, "--greeting", greeting, "--run-id-file", run_file)
    run_id = run_file.read_text().strip()
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "SUCCEEDED", st
    ns = json.loads(stack.ferry("--json", "describe", HELLO).stdout)["namespace"]
    out = stack.client(
        f"""
import json
from metaflow import Run, namespace
namespace({ns!r})
print(json.dumps(Run('HelloFlow/{run_id}').data.message))
"""
    )
    return json.loads(out)


def test_short_tricky_value_arrives_byte_exact(stack):
    assert greeting_of_run(stack, TRICKY) == f"{TRICKY} from production"
    assert not (stack.home / "blobs" / "params").exists()


def test_a_10kb_value_travels_as_a_verified_blob(stack):
    long = (TRICKY * 400)[:10_240]
    assert greeting_of_run(stack, long) == f"{long} from production"
    stored = list((stack.home / "blobs" / "params").iterdir())
    assert len(stored) == 1 and stored[0].name.endswith(".json")
    assert json.loads(stored[0].read_text())["greeting"] == long


def test_trigger_tags_go_on_the_run(stack):
    run_file = stack.home / "tagged.txt"
    stack.ferry("trigger", HELLO, "--tag", "nightly", "--greeting", "Hi", "--tag=café run", "--run-id-file", run_file)
    run_id = run_file.read_text().strip()
    assert stack.wait(run_id, timeout=300)["status"] == "SUCCEEDED"
    ns = json.loads(stack.ferry("--json", "describe", HELLO).stdout)["namespace"]
    out = stack.client(
        f"""
import json
from metaflow import Flow, Run, namespace
namespace({ns!r})
run = Run('HelloFlow/{run_id}')
print(json.dumps({{"tags": sorted(run.user_tags), "by_tag": [r.id for r in Flow('HelloFlow').runs('nightly')],
                   "greeting": run.data.message}}))
"""
    )
    got = json.loads(out)
    assert got["tags"] == ["café run", "nightly"]
    assert got["by_tag"] == [run_id]
    assert got["greeting"] == "Hi from production"
    bad = stack.ferry("trigger", HELLO, "--tag", "", check=False)
    assert bad.returncode == 2 and "invalid tag" in bad.stderr


def test_trigger_tags_go_on_the_run_of_a_flow_without_parameters(stack):
    # The tags travel in the execution input's `Parameters`, which the start task of a flow
    # without any `Parameter` must read as well.
    flow = ROOT / "examples" / "split_flow.py"
    stack.ferry("deploy", flow)
    run_file = stack.home / "tagged-no-params.txt"
    stack.ferry("trigger", flow, "--tag", "exp42", "--run-id-file", run_file)
    run_id = run_file.read_text().strip()
    assert stack.wait(run_id, timeout=300)["status"] == "SUCCEEDED"
    ns = json.loads(stack.ferry("--json", "describe", flow).stdout)["namespace"]
    out = stack.client(
        f"""
import json
from metaflow import Flow, Run, namespace
namespace({ns!r})
run = Run('FeatureMergeFlow/{run_id}')
print(json.dumps({{"tags": sorted(run.user_tags),
                   "by_tag": [r.id for r in Flow('FeatureMergeFlow').runs('exp42')]}}))
"""
    )
    got = json.loads(out)
    assert got["tags"] == ["exp42"]
    assert got["by_tag"] == [run_id]
