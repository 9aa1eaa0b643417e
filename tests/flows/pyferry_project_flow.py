"""For tests/test_metaflow_ferry.py: an @project flow deployed on a branch through the
Deployer API (`Deployer(..., branch="b").ferry()`)."""

from metaflow import FlowSpec, Parameter, project, step


@project(name="pyferry")
class PyFerryProjectFlow(FlowSpec):
    word = Parameter("word", default="hello")

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        self.shout = self.word.upper()


if __name__ == "__main__":
    PyFerryProjectFlow()
