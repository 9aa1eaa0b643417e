"""Downstream of examples/event_report_flow.py: each success of DailySalesReportFlow starts it
(tests/test_embedded_events.py)."""

from metaflow import FlowSpec, current, step, trigger_on_finish


@trigger_on_finish(flow="DailySalesReportFlow")
class AfterReportFlow(FlowSpec):
    @step
    def start(self):
        upstream = current.trigger.run if current.get("trigger") else None
        self.upstream = upstream.pathspec if upstream else None
        self.upstream_day = upstream.data.day if upstream else None
        self.next(self.end)

    @step
    def end(self):
        print("after", self.upstream)


if __name__ == "__main__":
    AfterReportFlow()
