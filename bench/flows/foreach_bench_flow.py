"""Benchmark flow: a foreach of `width` trivial steps and a join."""

from metaflow import FlowSpec, Parameter, step


class ForeachBenchFlow(FlowSpec):
    width = Parameter("width", help="Foreach width", default=100)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.out = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.out for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total)


if __name__ == "__main__":
    ForeachBenchFlow()
