"""A flow with a base environment and a step that pins another version (tests/test_embedded_pypi.py)."""

import importlib.metadata as md

from metaflow import FlowSpec, pypi, pypi_base, step


def undeclared():
    try:
        import pytest  # noqa: F401  (in the image's Python, never declared here)

        return "importable"
    except ImportError:
        return "not importable"


@pypi_base(packages={"tomli": "2.0.1"})
class EmbeddedPypiFlow(FlowSpec):
    @step
    def start(self):
        print("user code of start runs")
        import tomli  # noqa: F401

        self.start_tomli = md.version("tomli")
        self.start_undeclared = undeclared()
        print("start sees tomli", self.start_tomli, "and pytest", self.start_undeclared)
        self.next(self.end)

    @pypi(packages={"tomli": "2.0.2"})
    @step
    def end(self):
        print("user code of end runs")
        self.end_tomli = md.version("tomli")
        self.end_undeclared = undeclared()
        print("end sees tomli", self.end_tomli, "and pytest", self.end_undeclared)


if __name__ == "__main__":
    EmbeddedPypiFlow()
