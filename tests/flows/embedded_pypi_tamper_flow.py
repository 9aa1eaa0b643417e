"""A flow whose only wheel the test tampers with in the blob store (tests/test_embedded_pypi.py)."""

from metaflow import FlowSpec, pypi_base, step


@pypi_base(packages={"tomli": "2.1.0"})
class EmbeddedPypiTamperFlow(FlowSpec):
    @step
    def start(self):
        print("user code of start runs")
        self.next(self.end)

    @step
    def end(self):
        print("user code of end runs")


if __name__ == "__main__":
    EmbeddedPypiTamperFlow()
