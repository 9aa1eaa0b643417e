"""Ferry end-to-end test flow: its first exit hook function always fails; the second records
that it still ran. `--fail 1` makes `start` fail."""

import json
import os

from metaflow import FlowSpec, Parameter, exit_hook, step


def broken(run=None):
    raise RuntimeError("this exit hook fails on purpose")


def afterwards(run):
    out = os.environ.get("FERRY_TEST_HOOK_OUT")
    if out and run is not None:
        with open(os.path.join(out, "afterwards-%s.json" % run.id), "w") as f:
            json.dump({"successful": run.successful}, f)


@exit_hook(on_success=[broken, afterwards], on_error=[broken, afterwards])
class EmbeddedBrokenHookFlow(FlowSpec):
    fail = Parameter("fail", default=0, help="1: start fails")

    @step
    def start(self):
        if self.fail:
            raise ValueError("start fails on purpose")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EmbeddedBrokenHookFlow()
