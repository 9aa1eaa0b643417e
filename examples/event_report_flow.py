"""A flow that events start: each `data_ready` event runs it, its `date` field setting `day`.

    ferry deploy examples/event_report_flow.py
    ferry describe examples/event_report_flow.py     # Triggers: the event data_ready ...

With Metaflow's own client, `ArgoEvent("data_ready").publish({"date": "2026-12-01"})` is the
event (docs/events.md).
"""

from metaflow import FlowSpec, Parameter, current, step, trigger


@trigger(event={"name": "data_ready", "parameters": {"day": "date"}})
class DailySalesReportFlow(FlowSpec):
    day = Parameter("day", help="The day to report on (YYYY-MM-DD)", default="2026-01-01")

    @step
    def start(self):
        # Set when an event started the run; None for a run started by hand.
        event = current.trigger.event if current.get("trigger") else None
        self.started_by = event.name if event else "hand"
        self.sales = {"north": 120, "south": 95} if self.day else {}
        self.next(self.end)

    @step
    def end(self):
        print(f"{self.day}: {sum(self.sales.values())} sales (started by {self.started_by})")


if __name__ == "__main__":
    DailySalesReportFlow()
