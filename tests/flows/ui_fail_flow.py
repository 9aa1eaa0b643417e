"""Ferry UI test flow: the `check` step fails with an error whose text holds HTML."""

from metaflow import FlowSpec, step


class UiFailFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.check)

    @step
    def check(self):
        print("checking the input")
        raise ValueError("check failed: <b>bad</b> input")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    UiFailFlow()
