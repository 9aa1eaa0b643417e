"""Step memory on the embedded stack: a step using more than its `@resources(memory=…)` fails as
out of memory (as on AWS Batch) instead of succeeding, and a deploy warns about steps asking for
more memory or GPUs than the machine has, or when memory is not enforced."""

import os
import re
import time

import pytest

from test_embedded_stack import FLOWS, Stack

FLOW = "embedded_memory_flow.py"


def up_log_with(stack, text: str) -> str:
    """`ferry up`'s output once it contains `text` (it prints after writing stack.json)."""
    deadline = time.time() + 30
    while text not in stack.up_log() and time.time() < deadline:
        time.sleep(0.1)
    return stack.up_log()


def has_gpu() -> bool:
    return any(re.fullmatch(r"nvidia\d+", n) for n in os.listdir("/dev"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry-memory") / "home")
    yield s
    s.stop()


def test_a_step_using_more_than_its_memory_fails_as_out_of_memory(stack):
    log = up_log_with(stack, "Task memory: ")
    assert re.search(r"Task memory: (RLIMIT_DATA|each job attempt in its own cgroup v2)", log), log
    deployed = stack.ferry("deploy", FLOWS / FLOW)
    warnings = [l for l in deployed.stderr.splitlines() if l.startswith("ferry: warning: ")]
    assert any(
        "Step *train* asks for 30000000 MiB of memory, more than this machine has" in w
        and "The largest memory= this machine can give is" in w
        for w in warnings
    ), deployed.stderr
    if not has_gpu():
        assert any("Step *train* asks for 1 GPU(s) (gpu=1); this machine has none" in w for w in warnings), deployed.stderr
    assert not any("not enforced" in w for w in warnings), deployed.stderr

    run_id = stack.trigger(FLOW)
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "FAILED", st
    assert st["failing_step"] == "start", st
    assert st["reason"].startswith("OutOfMemoryError:"), st
    assert "asked for 256 MiB" in st["reason"], st
    # What a person reads.
    text = stack.ferry("status", run_id).stdout
    assert "OutOfMemoryError:" in text and "256 MiB" in text, text
    # The step never got its memory: nothing was printed after the allocation.
    stdout = stack.ferry("logs", f"EmbeddedMemoryFlow/{run_id}/start", check=False).stdout
    assert "allocated" not in stdout, stdout


def test_unenforced_memory_is_warned_about_at_start_and_deploy(tmp_path):
    s = Stack(tmp_path / "home", extra_args=("--memory-limits", "off"))
    try:
        log = up_log_with(s, "ferry: warning: task memory is not enforced")
        assert "ferry: warning: task memory is not enforced (turned off" in log, log
        deployed = s.ferry("deploy", FLOWS / FLOW)
        assert "ferry: warning: Memory limits are not enforced on this machine (turned off with --memory-limits off" in deployed.stderr, deployed.stderr
    finally:
        s.stop()
