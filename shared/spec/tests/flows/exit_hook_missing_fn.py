"""Exporter fixture: @exit_hook names a function the flow file does not define."""

from metaflow import FlowSpec, exit_hook, step


@exit_hook(on_error=["nowhere_to_be_found"])
class MissingHookFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MissingHookFlow()
