import sys

from metaflow import (
    FlowSpec,
    airflow_s3_key_sensor,
    card,
    conda,
    conda_base,
    kubernetes,
    pypi,
    step,
    timeout,
)

# A module that prints while it is imported must not break the exporter's output.
print("hello from the flow module")
sys.stdout.flush()


@airflow_s3_key_sensor(bucket_key="s3://bucket/key")
@conda_base(libraries={"numpy": "1.26.4"}, python="3.11.9")
class EnvFlow(FlowSpec):
    @pypi(packages={"requests": "2.32.5"}, python="3.11")
    @timeout(hours=1, minutes=2, seconds=3)
    @card
    @step
    def start(self):
        self.next(self.middle)

    @conda(libraries={"pandas": "2.2.2"}, disabled=True)
    @kubernetes(cpu=2)
    @step
    def middle(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EnvFlow()
