"""Ferry end-to-end test flow: `nap` starts a child process, records both pids in a file and
sleeps, so a test can terminate the run and check that every process is gone."""

import os
import subprocess
import time

from metaflow import FlowSpec, Parameter, step


class EmbeddedSleepFlow(FlowSpec):
    pid_file = Parameter("pid-file", help="Where nap writes its pids", required=True)

    @step
    def start(self):
        self.next(self.nap)

    @step
    def nap(self):
        child = subprocess.Popen(["sleep", "600"])
        with open(self.pid_file + ".tmp", "w") as f:
            f.write("%d %d\n" % (os.getpid(), child.pid))
        os.rename(self.pid_file + ".tmp", self.pid_file)
        time.sleep(600)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EmbeddedSleepFlow()
