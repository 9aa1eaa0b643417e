"""Ferry end-to-end test flow: a wide foreach (`width` items, default 2,000) of one trivial body
step and an ordered join, to run in both foreach forms."""

from metaflow import FlowSpec, Parameter, step


class EmbeddedWideFormsFlow(FlowSpec):
    width = Parameter("width", help="Foreach width", default=2000)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.square = self.input * self.input
        print("body item %d" % self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.squares = [i.square for i in inputs]
        assert self.squares == [x * x for x in range(len(self.squares))], "join out of order"
        self.next(self.end)

    @step
    def end(self):
        print("%d squares" % len(self.squares))


if __name__ == "__main__":
    EmbeddedWideFormsFlow()
