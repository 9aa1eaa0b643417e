"""Ferry end-to-end test flow: one iteration of the `explode` foreach fails."""

from metaflow import FlowSpec, step


class EmbeddedFailFlow(FlowSpec):
    @step
    def start(self):
        self.items = [0, 1, 2]
        self.next(self.explode, foreach="items")

    @step
    def explode(self):
        print("about to fail" if self.input == 1 else "fine")
        if self.input == 1:
            raise ValueError("explode fails on purpose")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EmbeddedFailFlow()
