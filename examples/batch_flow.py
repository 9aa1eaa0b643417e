"""Score invoices in a pinned container image on a chosen AWS Batch queue (@batch).

@batch needs Metaflow's S3 datastore, so this flow runs where Ferry deploys to AWS (or with
--datastore=s3); `compute_flow.py` shows @resources, which runs everywhere.
"""

from metaflow import FlowSpec, batch, step


class InvoiceScoringFlow(FlowSpec):
    @step
    def start(self):
        self.invoices = [("inv-1", 120.0, 3), ("inv-2", 89.5, 41), ("inv-3", 430.0, 12)]
        self.next(self.score)

    @batch(image="python:3.11-slim", queue="ferry-spot", cpu=2, memory=4096, shared_memory=256)
    @step
    def score(self):
        self.late_risk = {
            inv: round(min(1.0, days_open / 45 + amount / 5000), 3)
            for inv, amount, days_open in self.invoices
        }
        self.next(self.end)

    @step
    def end(self):
        print("riskiest invoice:", max(self.late_risk, key=self.late_risk.get))


if __name__ == "__main__":
    InvoiceScoringFlow()
