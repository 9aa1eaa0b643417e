"""Second flow of the `churn` project: score customers with the model that ChurnTrainFlow
produced on the same project branch, read through the Metaflow client.

    python project_train_flow.py run && python project_score_flow.py run
"""

from metaflow import Flow, FlowSpec, current, namespace, project, step


@project(name="churn")
class ChurnScoreFlow(FlowSpec):
    @step
    def start(self):
        # Runs of this project branch, whoever deployed them (production tokens differ per
        # flow, so the default namespace would hide the other flow's runs).
        namespace("project_branch:%s" % current.branch_name)
        run = Flow("ChurnTrainFlow").latest_successful_run
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
