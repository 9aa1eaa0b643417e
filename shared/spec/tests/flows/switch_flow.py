from metaflow import FlowSpec, step


class RouteFlow(FlowSpec):
    @step
    def start(self):
        self.mode = "fast"
        self.next({"fast": self.quick, "slow": self.careful}, condition="mode")

    @step
    def quick(self):
        self.next(self.end)

    @step
    def careful(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    RouteFlow()
