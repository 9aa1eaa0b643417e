"""@trigger with one event and a mapping as a list of names and (parameter, field) pairs."""
from metaflow import FlowSpec, JSONType, Parameter, step, trigger


@trigger(event={"name": "data_ready", "parameters": ["day", ("Region", "area")]})
class DataReadyFlow(FlowSpec):
    day = Parameter("day", required=True)
    region = Parameter("region", default="emea")
    weights = Parameter("weights", type=JSONType, default='{"a": 1}')

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    DataReadyFlow()
