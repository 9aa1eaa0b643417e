import sys

from metaflow import FlowSpec, step


class FirstFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class SecondFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class HelperBase(FlowSpec):
    """No steps: not a flow of its own."""

    def helper(self):
        return 1


FLOWS = {"first": FirstFlow, "second": SecondFlow}

if __name__ == "__main__":
    # Which flow runs is decided at run time: the exporter cannot tell, so --flow is needed.
    FLOWS[sys.argv.pop(1)]()
