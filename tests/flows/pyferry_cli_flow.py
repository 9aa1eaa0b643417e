"""For tests/test_metaflow_ferry.py: a flow deployed and triggered through
`python flow.py ferry create/trigger`. `num` sets the result."""

import time

from metaflow import FlowSpec, Parameter, step


class PyFerryCliFlow(FlowSpec):
    num = Parameter("num", type=int, default=1, help="The number to multiply by six.")
    sleep = Parameter("sleep", type=float, default=0, help="Seconds the start step sleeps.")

    @step
    def start(self):
        time.sleep(self.sleep)
        self.next(self.end)

    @step
    def end(self):
        self.result = self.num * 6
        print("result", self.result)


if __name__ == "__main__":
    PyFerryCliFlow()
