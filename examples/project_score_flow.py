"""Second flow of the `churn` project: score customers with the model that ChurnTrainFlow
produced on the same project branch, read through the Metaflow client.

    python project_train_flow.py run && python project_score_flow.py run
"""

from metaflow import Flow, FlowSpec, current, project, step


@project(name="churn")
class ChurnScoreFlow(FlowSpec):
    @step
    def start(self):
        # The default namespace is shared by every flow of this project and branch: deployed,
        # both flows get the same production token (its prefix is the project and branch);
        # run locally, both run in the user's namespace.
        run = Flow("ChurnTrainFlow").latest_run
        assert run is not None, "run ChurnTrainFlow on branch %s first" % current.branch_name
        self.model = run.data.model
        self.model_run = run.pathspec
        assert self.model["trained_on_branch"] == current.branch_name
        self.next(self.score)

    @step
    def score(self):
        customers = {"c1": (3, 4), "c2": (25, 0), "c3": (10, 2)}
        w = self.model
        self.risk = {
            cid: round(tickets * w["tickets_weight"] - tenure * w["tenure_weight"] / 10, 3)
            for cid, (tenure, tickets) in customers.items()
        }
        self.next(self.end)

    @step
    def end(self):
        print("scored with", self.model_run, self.risk)


if __name__ == "__main__":
    ChurnScoreFlow()
