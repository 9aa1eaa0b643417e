"""Build two feature sets in parallel and merge them: a static split and its join.

    python split_flow.py run
"""

from metaflow import FlowSpec, step


class FeatureMergeFlow(FlowSpec):
    @step
    def start(self):
        self.days = list(range(1, 15))
        self.prices = [100 + (d * 7) % 11 for d in self.days]
        self.volumes = [1000 + (d * 13) % 17 * 10 for d in self.days]
        self.next(self.price_features, self.volume_features)

    @step
    def price_features(self):
        window = 3
        self.features = {
            "moving_avg": [
                round(sum(self.prices[i - window + 1 : i + 1]) / window, 3)
                for i in range(window - 1, len(self.prices))
            ]
        }
        self.next(self.merge)

    @step
    def volume_features(self):
        total = sum(self.volumes)
        self.features = {"volume_share": [round(v / total, 5) for v in self.volumes]}
        self.next(self.merge)

    @step
    def merge(self, inputs):
        self.features = {}
        for branch in inputs:
            self.features.update(branch.features)
        assert set(self.features) == {"moving_avg", "volume_share"}
        self.merge_artifacts(inputs, include=["days"])
        self.next(self.end)

    @step
    def end(self):
        print("features:", sorted(self.features), "over", len(self.days), "days")


if __name__ == "__main__":
    FeatureMergeFlow()
