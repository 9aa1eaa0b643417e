"""A run that fails on the embedded stack is reported: `ferry deploy --notify-on-error
--notify-webhook-url URL` gets exactly one POST of the versioned webhook body when the run ends,
naming the run, its status and the failing step (issue 14). The receiver is a real HTTP server
on 127.0.0.1."""

import http.server
import json
import threading
import time

import pytest

from conftest import ROOT
from test_embedded_stack import Stack

FLOWS = ROOT / "tests" / "flows"


class Receiver(http.server.BaseHTTPRequestHandler):
    bodies = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        Receiver.bodies.append((self.path, json.loads(self.rfile.read(n))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ferry-notify") / "home")
    yield s
    s.stop()


def test_a_failed_run_is_posted_once_to_the_webhook(stack, receiver):
    flow = FLOWS / "embedded_fail_flow.py"
    stack.ferry("deploy", flow, "--notify-on-error", "--notify-webhook-url", f"{receiver}/hooks/ferry")
    run_id = stack.trigger(str(flow))
    st = stack.wait(run_id, timeout=300)
    assert st["status"] == "FAILED", st
    deadline = time.time() + 60
    while not Receiver.bodies and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # a second delivery, if any, would arrive now
    assert len(Receiver.bodies) == 1, Receiver.bodies
    path, body = Receiver.bodies[0]
    assert path == "/hooks/ferry"
    assert body["event"] == "run_finished" and body["version"] == 1
    assert body["pathspec"] == f"EmbeddedFailFlow/{run_id}"
    assert body["status"] == "FAILED" and body["succeeded"] is False
    assert body["failing_step"] == "explode", body
    # `ferry describe` shows the last delivery.
    last = json.loads(stack.ferry("--json", "describe", flow).stdout)["last_delivery"]
    assert last["run_id"] == run_id and last["status"] == "FAILED", last
    assert [o["delivered"] for o in last["outcomes"]] == [True], last
