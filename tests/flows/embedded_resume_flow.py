"""start -> fanout (a foreach over `width` items) -> body -> join -> train -> end, for the resume
tests (tests/test_embedded_resume.py). Every task appends its step (and split index) to
<home>/resume-test/ran.log, so a test counts which tasks ran user code. A step fails while
<home>/resume-test/fail-<step> exists, and waits while <home>/resume-test/block-<step> exists
(<home> is the stack's home: the parent of the local datastore root)."""

import os
import time

from metaflow import FlowSpec, Parameter, step

VERSION = "v1"


def control(name):
    home = os.path.dirname(os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"].rstrip("/"))
    return os.path.join(home, "resume-test", name)


def mark(what, step_name):
    os.makedirs(os.path.dirname(control("ran.log")), exist_ok=True)
    with open(control("ran.log"), "a") as f:
        f.write(what + "\n")
    while os.path.exists(control("block-" + step_name)):
        time.sleep(0.2)
    if os.path.exists(control("fail-" + step_name)):
        raise Exception("failing %s on purpose" % step_name)


class ResumeFlow(FlowSpec):
    width = Parameter("width", default=20, type=int)

    @step
    def start(self):
        mark("start", "start")
        self.items = list(range(self.width))
        self.next(self.fanout)

    @step
    def fanout(self):
        mark("fanout", "fanout")
        self.next(self.body, foreach="items")

    @step
    def body(self):
        mark("body-%d" % self.input, "body")
        self.sq = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        mark("join", "join")
        self.squares = [i.sq for i in inputs]
        self.next(self.train)

    @step
    def train(self):
        mark("train", "train")
        self.model = sum(self.squares)
        self.version = VERSION
        self.next(self.end)

    @step
    def end(self):
        mark("end", "end")


if __name__ == "__main__":
    ResumeFlow()
