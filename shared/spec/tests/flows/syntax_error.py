from metaflow import FlowSpec, step


class TypoFlow(FlowSpec):
    @step
    def start(self):
        self.values = [1, 2, 3
        self.next(self.end)

    @step
    def end(self):
        pass
