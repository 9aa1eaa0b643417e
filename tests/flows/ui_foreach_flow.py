"""Ferry UI test flow: a scheduled, time-zoned flow with a 50-wide foreach whose tasks take a
moment, so a browser can watch the fan-out step go from running to succeeded."""

import time

from metaflow import FlowSpec, Parameter, schedule, step


@schedule(cron="0 10 * * ? *", timezone="Europe/Paris")
class UiForeachFlow(FlowSpec):
    width = Parameter("width", help="Foreach width", default=50)
    note = Parameter("note", help="Free text shown in the UI", default="plain")
    pause = Parameter("pause", help="Seconds each foreach task sleeps", default=0.5)

    @step
    def start(self):
        print("note=%s" % self.note)
        self.items = list(range(self.width))
        self.next(self.fan, foreach="items")

    @step
    def fan(self):
        time.sleep(float(self.pause))
        self.square = self.input * self.input
        print("item %d squared is %d" % (self.input, self.square))
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.total = sum(i.square for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total=%d" % self.total)


if __name__ == "__main__":
    UiForeachFlow()
