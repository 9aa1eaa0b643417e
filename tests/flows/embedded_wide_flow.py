"""Ferry end-to-end test flow: parameters, a static split, a wide foreach with an ordered join,
and a @retry step that fails on its first attempt."""

from metaflow import FlowSpec, Parameter, current, retry, step


class EmbeddedWideFlow(FlowSpec):
    width = Parameter("width", help="Foreach width", default=200)
    greeting = Parameter("greeting", help="A text printed by start", default="hello")

    @step
    def start(self):
        print("greeting=%s" % self.greeting)
        self.items = list(range(self.width))
        self.next(self.left, self.right)

    @step
    def left(self):
        self.side = "left"
        self.next(self.meet)

    @step
    def right(self):
        self.side = "right"
        self.next(self.meet)

    @step
    def meet(self, inputs):
        self.sides = sorted(i.side for i in inputs)
        self.merge_artifacts(inputs, include=["items"])
        self.next(self.fan)

    @step
    def fan(self):
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.square = self.input * self.input
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.squares = [i.square for i in inputs]
        self.merge_artifacts(inputs, exclude=["square"])
        assert self.squares == [x * x for x in range(len(self.squares))], "join out of order"
        self.next(self.flaky)

    @retry(times=1)
    @step
    def flaky(self):
        if current.retry_count == 0:
            raise RuntimeError("first attempt fails on purpose")
        self.attempts = current.retry_count + 1
        self.next(self.end)

    @step
    def end(self):
        print("sides=%s squares=%d sum=%d attempts=%d" % (",".join(self.sides), len(self.squares), sum(self.squares), self.attempts))


if __name__ == "__main__":
    EmbeddedWideFlow()
