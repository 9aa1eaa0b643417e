from metaflow import FlowSpec, Parameter, step


class LateDefaultFlow(FlowSpec):
    day = Parameter("day", default=lambda ctx: "2026-01-01")

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LateDefaultFlow()
