"""For each dataset (foreach), profile its train and test halves in parallel (a split inside
the foreach), then gather the profiles.

    python split_in_foreach_flow.py run
"""

from metaflow import FlowSpec, step


class DatasetProfileFlow(FlowSpec):
    @step
    def start(self):
        self.datasets = ["churn", "fraud", "pricing"]
        self.next(self.load, foreach="datasets")

    @step
    def load(self):
        self.dataset = self.input
        seed = sum(map(ord, self.dataset))
        self.rows = [(seed * (i + 1)) % 97 for i in range(20)]
        self.next(self.profile_train, self.profile_test)

    @step
    def profile_train(self):
        part = self.rows[:15]
        self.profile = ("train", len(part), round(sum(part) / len(part), 3))
        self.next(self.combine)

    @step
    def profile_test(self):
        part = self.rows[15:]
        self.profile = ("test", len(part), round(sum(part) / len(part), 3))
        self.next(self.combine)

    @step
    def combine(self, inputs):
        self.merge_artifacts(inputs, include=["dataset", "datasets"])
        self.profiles = {i.profile[0]: i.profile[1:] for i in inputs}
        assert set(self.profiles) == {"train", "test"}
        self.next(self.report)

    @step
    def report(self, inputs):
        assert [i.dataset for i in inputs] == inputs[0].datasets
        self.summary = {i.dataset: i.profiles for i in inputs}
        self.next(self.end)

    @step
    def end(self):
        for name, profiles in self.summary.items():
            print(name, profiles)


if __name__ == "__main__":
    DatasetProfileFlow()
