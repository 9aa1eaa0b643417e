"""Ferry end-to-end test flow: @exit_hook functions record what they saw of the run.

`--fail 1` makes `start` fail. Each hook writes `<FERRY_TEST_HOOK_OUT>/<hook>-<run id>.json`
with the run's pathspec and outcome as the metaflow client shows it."""

import json
import os

from metaflow import FlowSpec, Parameter, exit_hook, step


def record(name, run):
    seen = {
        "hook": name,
        "pathspec": run.pathspec if run is not None else None,
        "successful": run.successful if run is not None else None,
        "finished": run.finished if run is not None else None,
    }
    print("HOOK " + json.dumps(seen, sort_keys=True))
    out = os.environ.get("FERRY_TEST_HOOK_OUT")
    if out and run is not None:
        with open(os.path.join(out, "%s-%s.json" % (name, run.id)), "w") as f:
            json.dump(seen, f)


def celebrate(run=None):
    record("celebrate", run)


def lament(run):
    record("lament", run)


@exit_hook(on_success=[celebrate], on_error=[lament])
class EmbeddedExitHookFlow(FlowSpec):
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
    EmbeddedExitHookFlow()
