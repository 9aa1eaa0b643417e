"""The resume benchmark's flow (bench/resume_wall.sh): start -> fanout (a foreach over `width`
items) -> body -> join -> train -> end, each task sleeping `work` seconds to stand for real work.
`train` fails while <home>/resume-bench/fail-train exists (<home>: the stack's home, the parent of
the local datastore root)."""

import os
import time

from metaflow import FlowSpec, Parameter, step


def fail_here(name):
    home = os.path.dirname(os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"].rstrip("/"))
    if os.path.exists(os.path.join(home, "resume-bench", "fail-" + name)):
        raise Exception("failing %s on purpose" % name)


class ResumeBenchFlow(FlowSpec):
    width = Parameter("width", default=20, type=int)
    work = Parameter("work", default=0.0, type=float)

    @step
    def start(self):
        time.sleep(self.work)
        self.items = list(range(self.width))
        self.next(self.fanout)

    @step
    def fanout(self):
        time.sleep(self.work)
        self.next(self.body, foreach="items")

    @step
    def body(self):
        time.sleep(self.work)
        self.sq = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        time.sleep(self.work)
        self.squares = [i.sq for i in inputs]
        self.next(self.train)

    @step
    def train(self):
        time.sleep(self.work)
        fail_here("train")
        self.model = sum(self.squares)
        self.next(self.end)

    @step
    def end(self):
        time.sleep(self.work)


if __name__ == "__main__":
    ResumeBenchFlow()
