"""Ferry end-to-end test flow: a 3-wide foreach whose body raises on item 1, to see the failure
of one child of a Batch array job explained."""

from metaflow import FlowSpec, step


class EmbeddedArrayFailFlow(FlowSpec):
    @step
    def start(self):
        self.items = [0, 1, 2]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        if self.input == 1:
            raise ValueError("array child %d fails on purpose" % self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EmbeddedArrayFailFlow()
