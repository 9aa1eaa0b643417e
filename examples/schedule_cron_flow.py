"""Refresh a stock-level report every weekday at 07:30 Paris time (@schedule with a cron
expression and a time zone).

    python schedule_cron_flow.py run
"""

from metaflow import FlowSpec, Parameter, schedule, step


@schedule(cron="30 7 ? * MON-FRI *", timezone="Europe/Paris")
class StockReportFlow(FlowSpec):
    warehouse = Parameter("warehouse", help="Warehouse code", default="PAR-1")
    low_mark = Parameter("low-mark", help="Report items below this many units", default=10)

    @step
    def start(self):
        self.stock = {"bolts": 4, "nuts": 40, "washers": 9, "hinges": 25}
        self.next(self.report)

    @step
    def report(self):
        self.low = sorted(item for item, n in self.stock.items() if n < self.low_mark)
        self.next(self.end)

    @step
    def end(self):
        print(self.warehouse, "low stock:", ", ".join(self.low) or "none")


if __name__ == "__main__":
    StockReportFlow()
