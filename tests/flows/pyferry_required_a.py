"""For tests/test_metaflow_ferry.py (Metaflow issue #2619): a flow whose required parameter the
other flow (pyferry_required_b.py) does not have."""

from metaflow import FlowSpec, Parameter, step


class PyFerryRequiredA(FlowSpec):
    alpha = Parameter("alpha", type=str, required=True)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        self.seen = "alpha=%s" % self.alpha


if __name__ == "__main__":
    PyFerryRequiredA()
