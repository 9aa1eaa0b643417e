"""Ferry end-to-end test flow for the two foreach forms: a foreach of `width` items whose body is
three steps (prep -> train -> score) ending in an ordered join; `train` fails item 7 once under
@retry, `score` raises on item 3 under @catch."""

from metaflow import FlowSpec, Parameter, catch, current, retry, step


class EmbeddedFormsFlow(FlowSpec):
    width = Parameter("width", help="Foreach width", default=50)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.prep, foreach="items")

    @step
    def prep(self):
        self.x = self.input
        print("prep item %d" % self.x)
        self.next(self.train)

    @retry(times=1)
    @step
    def train(self):
        print("train item %d attempt %d" % (self.x, current.retry_count))
        if self.x == 7 and current.retry_count == 0:
            raise RuntimeError("train fails item 7 once on purpose")
        self.y = self.x * 10
        self.next(self.score)

    @catch(var="failure")
    @step
    def score(self):
        print("score item %d" % self.x)
        if self.x == 3:
            raise ValueError("score refuses item 3")
        self.z = self.y + 1
        self.next(self.join)

    @step
    def join(self, inputs):
        self.xs = [i.x for i in inputs]
        self.zs = [getattr(i, "z", None) for i in inputs]
        self.caught = [i.x for i in inputs if getattr(i, "failure", None) is not None]
        assert self.xs == list(range(len(self.xs))), "join inputs out of split order"
        self.next(self.end)

    @step
    def end(self):
        print("%d items, caught %s" % (len(self.xs), self.caught))


if __name__ == "__main__":
    EmbeddedFormsFlow()
