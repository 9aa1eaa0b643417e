"""First flow of the `churn` project: fit churn-risk weights and store them as `model`.

`project_score_flow.py` (same project) reads this artifact. Deploy both on the same branch.

    python project_train_flow.py run
"""

from metaflow import FlowSpec, current, project, step


@project(name="churn")
class ChurnTrainFlow(FlowSpec):
    @step
    def start(self):
        self.customers = [
            {"tenure": 2, "tickets": 5, "churned": True},
            {"tenure": 30, "tickets": 0, "churned": False},
            {"tenure": 5, "tickets": 3, "churned": True},
            {"tenure": 18, "tickets": 1, "churned": False},
        ]
        self.next(self.train)

    @step
    def train(self):
        churned = [c for c in self.customers if c["churned"]]
        stayed = [c for c in self.customers if not c["churned"]]
        mean = lambda rows, k: sum(r[k] for r in rows) / len(rows)
        self.model = {
            "tickets_weight": round(mean(churned, "tickets") - mean(stayed, "tickets"), 3),
            "tenure_weight": round(mean(stayed, "tenure") - mean(churned, "tenure"), 3),
            "trained_on_branch": current.branch_name,
        }
        self.next(self.end)

    @step
    def end(self):
        print("model for branch", current.branch_name, self.model)


if __name__ == "__main__":
    ChurnTrainFlow()
