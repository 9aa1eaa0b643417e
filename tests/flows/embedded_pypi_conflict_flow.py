"""A flow whose environment cannot be resolved (tests/test_embedded_pypi.py)."""

from metaflow import FlowSpec, pypi_base, step


@pypi_base(packages={"tomli": "99.0.0"})
class EmbeddedPypiConflictFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EmbeddedPypiConflictFlow()
