"""For tests/test_metaflow_ferry.py (Metaflow issue #2619): a flow with another required
parameter than pyferry_required_a.py."""

from metaflow import FlowSpec, Parameter, step


class PyFerryRequiredB(FlowSpec):
    beta = Parameter("beta", type=int, required=True)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        self.seen = "beta=%d" % self.beta


if __name__ == "__main__":
    PyFerryRequiredB()
