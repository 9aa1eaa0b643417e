"""@trigger mistakes that the exporter or validation refuses, one flow per mistake."""
import sys

from metaflow import FlowSpec, Parameter, step, trigger, trigger_on_finish

class Base(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


@trigger(event={"name": "a", "parameter": {"x": "y"}})
class TypoFlow(Base):
    pass


@trigger(event=lambda ctx: "a")
class FunctionFlow(Base):
    pass


@trigger_on_finish(flow="lake.FooFlow")
class OneDotFlow(Base):
    pass


@trigger(events=["bad name!", "other"], options={"retries": 3})
class BadNameFlow(Base):
    alpha = Parameter("alpha", required=True)


if __name__ == "__main__":
    # The flow to run is named on the command line, so any of them can be exported.
    globals()[sys.argv.pop(1)]()
