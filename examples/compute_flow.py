"""Train a small model with explicit compute needs (@resources) and pass settings to a step
through @environment. (`batch_flow.py` shows @batch, which needs an S3 datastore.)

The sizes are Fargate task sizes (the AWS stack runs tasks on Fargate: 2 vCPUs take 4,096 to
16,384 MiB, 0.5 vCPU 1,024 to 4,096); the embedded stack holds each step to its memory.

    python compute_flow.py run
"""

import os

from metaflow import FlowSpec, environment, resources, step


class DemandForecastFlow(FlowSpec):
    @step
    def start(self):
        self.history = [120, 132, 128, 141, 150, 149, 160, 171, 168, 180]
        self.next(self.train)

    @resources(cpu=2, memory=4096)
    @step
    def train(self):
        alpha = 0.5
        level = self.history[0]
        for value in self.history[1:]:
            level = alpha * value + (1 - alpha) * level
        self.level = round(level, 3)
        self.next(self.forecast)

    @resources(cpu=0.5, memory=1024)
    @environment(vars={"FORECAST_HORIZON": "3", "FORECAST_UNITS": "crates"})
    @step
    def forecast(self):
        horizon = int(os.environ["FORECAST_HORIZON"])
        self.units = os.environ["FORECAST_UNITS"]
        self.forecast_values = [self.level] * horizon
        self.next(self.end)

    @step
    def end(self):
        print("forecast:", self.forecast_values, self.units)


if __name__ == "__main__":
    DemandForecastFlow()
