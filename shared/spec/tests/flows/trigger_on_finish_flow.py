"""@trigger_on_finish with a plain, a fully qualified and a dict upstream, in a @project."""
from metaflow import FlowSpec, project, step, trigger_on_finish


@project(name="lake")
@trigger_on_finish(
    flows=["IngestFlow", "other.prod.CleanFlow", {"name": "ScoreFlow", "project_branch": "test.exp"}]
)
class ReportFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ReportFlow()
