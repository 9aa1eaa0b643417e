"""Ferry end-to-end test flow: a step retried at once and one retried after a delay; each
attempt but the last writes to stdout and stderr, then fails."""

import sys

from metaflow import FlowSpec, current, retry, step


def attempt(name, fails_before):
    n = current.retry_count
    print("%s stdout of attempt %d" % (name, n))
    print("%s stderr of attempt %d" % (name, n), file=sys.stderr)
    if n < fails_before:
        raise RuntimeError("%s fails attempt %d on purpose" % (name, n))


class EmbeddedRetryFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.quick, self.later)

    @retry(times=1, minutes_between_retries=0)
    @step
    def quick(self):
        attempt("quick", 1)
        self.next(self.join)

    @retry(times=2, minutes_between_retries=1)
    @step
    def later(self):
        attempt("later", 2)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EmbeddedRetryFlow()
