"""Shared pytest fixtures for Ferry's end-to-end suites.

Environment (set by scripts/test):
  FERRY_TOOLS    the tools folder (.tools): venv with metaflow, moto, boto3, cfn-lint
  FERRY_BIN_DIR  folder of the built binaries (target/debug)
  FERRY_MOTO_URL a running moto server (execute_state_machine on); when unset, one is started here
A missing tool or binary is a failure, never a skip.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tools_dir() -> Path:
    return Path(os.environ.get("FERRY_TOOLS", ROOT / ".tools"))


def bin_dir() -> Path:
    return Path(os.environ.get("FERRY_BIN_DIR", ROOT / "target" / "debug"))


def binary(name: str) -> Path:
    """A built Ferry binary; fails with the build command when it is missing."""
    path = bin_dir() / name
    assert path.exists(), f"{path} not built: run `cargo build --workspace --bins` (scripts/test does)"
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(scope="session")
def moto_url():
    """The moto server URL, configured for Ferry's tests."""
    url = os.environ.get("FERRY_MOTO_URL")
    proc = None
    if not url:
        port = free_port()
        server = tools_dir() / "venv" / "bin" / "moto_server"
        assert server.exists(), f"{server} missing: run scripts/setup-tools"
        proc = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)],
            env={**os.environ, "MOTO_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}"
        body = json.dumps(
            {
                "stepfunctions": {"execute_state_machine": True},
                "batch": {"use_docker": False},
                "lambda": {"use_docker": False},
            }
        ).encode()
        req = urllib.request.Request(
            url + "/moto-api/config", data=body, headers={"Content-Type": "application/json"}
        )
        urllib.request.urlopen(req).read()
    yield url
    if proc:
        proc.terminate()
        proc.wait(10)


@pytest.fixture()
def aws_env(moto_url, monkeypatch):
    """Fake credentials and region, and every AWS client pointed at moto."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    return moto_url


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{time.time_ns() % 10**9}"
