"""Ferry end-to-end test flow: `start` holds its worker until the file named by `gate` exists,
so a test decides when the step ends (and, on a one-worker stack, which run waits for a
worker)."""

import os
import time

from metaflow import FlowSpec, Parameter, step


class EmbeddedGateFlow(FlowSpec):
    gate = Parameter("gate", help="start ends once this file exists", required=True)

    @step
    def start(self):
        deadline = time.time() + 600
        while not os.path.exists(self.gate):
            if time.time() > deadline:
                raise RuntimeError("the gate %s never opened" % self.gate)
            time.sleep(0.2)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EmbeddedGateFlow()
