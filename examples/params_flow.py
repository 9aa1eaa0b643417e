"""Score a batch of loan applications with a simple rule model.

Exercises every parameter type Ferry deploys: str, int, float, bool and JSON, with defaults
and one required parameter (so this flow cannot carry @schedule).

    python params_flow.py run --region north
"""

from metaflow import FlowSpec, JSONType, Parameter, step


class LoanScoringFlow(FlowSpec):
    region = Parameter("region", help="Which branch office's applications to score", required=True)
    model_name = Parameter("model-name", help="Label stored with the scores", default="rules-v2")
    sample_size = Parameter("sample-size", help="How many applications to score", default=5)
    threshold = Parameter("threshold", help="Approve at or above this score", default=0.6)
    strict = Parameter("strict", help="Refuse applicants with any missed payment", default=False, type=bool)
    weights = Parameter(
        "weights",
        help="Feature weights, as JSON",
        type=JSONType,
        default='{"income": 0.5, "history": 0.3, "tenure": 0.2}',
    )

    @step
    def start(self):
        assert isinstance(self.sample_size, int)
        assert isinstance(self.threshold, float)
        assert isinstance(self.strict, bool)
        assert isinstance(self.weights, dict)
        self.applications = [
            {"id": i, "income": (i * 37 % 10) / 10, "history": (i * 53 % 10) / 10, "tenure": (i % 4) / 4, "missed": i % 3 == 0}
            for i in range(self.sample_size)
        ]
        self.next(self.score)

    @step
    def score(self):
        scores = {}
        for app in self.applications:
            value = sum(self.weights.get(k, 0.0) * app[k] for k in ("income", "history", "tenure"))
            if self.strict and app["missed"]:
                value = 0.0
            scores[app["id"]] = round(value, 4)
        self.scores = scores
        self.approved = sorted(i for i, s in scores.items() if s >= self.threshold)
        self.next(self.end)

    @step
    def end(self):
        print(
            "region=%s model=%s approved %d of %d"
            % (self.region, self.model_name, len(self.approved), len(self.scores))
        )


if __name__ == "__main__":
    LoanScoringFlow()
