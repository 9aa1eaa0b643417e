"""@trigger with two events (one namespaced, mapped as a dict) and a reset_at option."""
from metaflow import FlowSpec, Parameter, namespaced_event_name, project, step, trigger


@project(name="lake")
@trigger(
    events=[
        "table_loaded",
        {"name": namespaced_event_name("model_ready"), "parameters": {"version": "model_version"}},
    ],
    options={"reset_at": {"cron": "0 0 * * *", "timezone": "Europe/Paris"}},
)
class JoinEventsFlow(FlowSpec):
    version = Parameter("version", type=int, default=1)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    JoinEventsFlow()
