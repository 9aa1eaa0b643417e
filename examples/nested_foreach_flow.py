"""Grid search: a foreach over model families, and inside it a foreach over penalties.

    python nested_foreach_flow.py run
"""

from metaflow import FlowSpec, step


def validation_error(family, penalty):
    base = {"ridge": 0.30, "lasso": 0.28, "huber": 0.33}[family]
    return round(base + (penalty - 0.1) ** 2, 5)


class GridSearchFlow(FlowSpec):
    @step
    def start(self):
        self.families = ["ridge", "lasso", "huber"]
        self.next(self.family, foreach="families")

    @step
    def family(self):
        self.family_name = self.input
        self.penalties = [0.01, 0.1, 1.0]
        self.next(self.evaluate, foreach="penalties")

    @step
    def evaluate(self):
        self.penalty = self.input
        self.error = validation_error(self.family_name, self.penalty)
        self.next(self.best_penalty)

    @step
    def best_penalty(self, inputs):
        assert [i.penalty for i in inputs] == inputs[0].penalties
        best = min(inputs, key=lambda i: i.error)
        self.family_name = inputs[0].family_name
        self.families = inputs[0].families  # joins carry nothing forward by themselves
        self.best = (best.penalty, best.error)
        self.next(self.best_family)

    @step
    def best_family(self, inputs):
        assert [i.family_name for i in inputs] == inputs[0].families
        self.results = {i.family_name: i.best for i in inputs}
        self.winner = min(self.results, key=lambda f: self.results[f][1])
        self.next(self.end)

    @step
    def end(self):
        print("best model:", self.winner, "penalty", self.results[self.winner][0])


if __name__ == "__main__":
    GridSearchFlow()
