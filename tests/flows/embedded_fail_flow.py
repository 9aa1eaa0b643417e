"""Ferry end-to-end test flow: the `explode` step always fails."""

from metaflow import FlowSpec, step


class EmbeddedFailFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.explode)

    @step
    def explode(self):
        print("about to fail")
        if len("explode") == 7:
            raise ValueError("explode fails on purpose")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EmbeddedFailFlow()
