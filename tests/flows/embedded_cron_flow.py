"""Ferry end-to-end test flow: scheduled every minute (the test speeds the stack's clock up)."""

from metaflow import FlowSpec, Parameter, schedule, step


@schedule(cron="* * * * ? *", timezone="Europe/Paris")
class EmbeddedCronFlow(FlowSpec):
    label = Parameter("label", help="Printed by start", default="tick")

    @step
    def start(self):
        print("label=%s" % self.label)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EmbeddedCronFlow()
