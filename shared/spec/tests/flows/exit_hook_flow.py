"""Exporter fixture: two @exit_hook decorators, functions given as objects and as names."""

from metaflow import FlowSpec, exit_hook, step


def notify_team(run=None):
    print("success", run)


def page_oncall():
    print("failure")


def also_on_error(run):
    print("failure too", run)


@exit_hook(on_success=[notify_team], on_error=[page_oncall, "os.path.join"])
@exit_hook(on_error=["also_on_error"], options={"image": "python:3.12"})
class ExitHookFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ExitHookFlow()
