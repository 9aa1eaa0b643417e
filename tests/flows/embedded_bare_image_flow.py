"""Records which metaflow ran it and whether boto3 was importable (tests/test_embedded_shipped_metaflow.py)."""

import importlib.util

import metaflow
from metaflow import FlowSpec, step


class EmbeddedBareImageFlow(FlowSpec):
    @step
    def start(self):
        self.metaflow_file = metaflow.__file__
        self.has_boto3 = importlib.util.find_spec("boto3") is not None
        self.next(self.end)

    @step
    def end(self):
        print("end ran metaflow from", metaflow.__file__)


if __name__ == "__main__":
    EmbeddedBareImageFlow()
