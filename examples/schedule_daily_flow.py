"""Recompute daily customer activity counts once a day (@schedule(daily=True), UTC midnight).

    python schedule_daily_flow.py run
"""

from metaflow import FlowSpec, schedule, step


@schedule(daily=True)
class DailyActivityFlow(FlowSpec):
    @step
    def start(self):
        self.events = [("ann", "login"), ("bob", "buy"), ("ann", "buy"), ("cid", "login")]
        self.next(self.count)

    @step
    def count(self):
        counts = {}
        for user, _ in self.events:
            counts[user] = counts.get(user, 0) + 1
        self.counts = counts
        self.next(self.end)

    @step
    def end(self):
        print("active users:", len(self.counts))


if __name__ == "__main__":
    DailyActivityFlow()
