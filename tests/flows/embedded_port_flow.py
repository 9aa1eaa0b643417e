"""Ferry end-to-end test flow for a stack restarted on another port: a foreach of two, a join,
and a `start` that runs long enough for the task wrapper's final heartbeat to land seconds after
the task was registered."""

import os
import time

from metaflow import FlowSpec, step


class EmbeddedPortFlow(FlowSpec):
    @step
    def start(self):
        time.sleep(3)
        self.service_url = os.environ.get("METAFLOW_SERVICE_URL")
        self.items = [3, 4]
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.sq = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.sq for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total)


if __name__ == "__main__":
    EmbeddedPortFlow()
