from metaflow import FlowSpec, step


class JoinSplitFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.c, self.d)

    @step
    def c(self):
        self.next(self.end)

    @step
    def d(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    JoinSplitFlow()
