"""A downstream flow: it runs when `ChurnScoreFlow` of the same @project branch succeeds.

    ferry deploy examples/project_report_flow.py --branch b   # waits for churn.test.b.ChurnScoreFlow
"""

from metaflow import FlowSpec, current, project, step, trigger_on_finish


@project(name="churn")
@trigger_on_finish(flow="ChurnScoreFlow")
class ChurnReportFlow(FlowSpec):
    @step
    def start(self):
        # The upstream run, when a success of ChurnScoreFlow started this one.
        upstream = current.trigger.run if current.get("trigger") else None
        self.upstream = upstream.pathspec if upstream else None
        self.next(self.end)

    @step
    def end(self):
        print("report after", self.upstream or "a run started by hand")


if __name__ == "__main__":
    ChurnReportFlow()
