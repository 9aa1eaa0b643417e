"""Fit one tiny linear trend per sales region (foreach), then compare them (join).

The join asserts that its inputs arrive in the order of the foreach list.

    python foreach_flow.py run
"""

from metaflow import FlowSpec, step


class RegionTrendFlow(FlowSpec):
    @step
    def start(self):
        self.regions = ["north", "south", "east", "west", "central"]
        self.next(self.fit, foreach="regions")

    @step
    def fit(self):
        self.region = self.input
        offset = len(self.region)
        xs = list(range(8))
        ys = [offset + 1.5 * x + ((x * offset) % 3) for x in xs]
        n = len(xs)
        mean_x, mean_y = sum(xs) / n, sum(ys) / n
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum(
            (x - mean_x) ** 2 for x in xs
        )
        self.slope = round(slope, 4)
        self.next(self.compare)

    @step
    def compare(self, inputs):
        order = [i.region for i in inputs]
        assert order == inputs[0].regions, "join inputs out of order: %s" % order
        self.slopes = {i.region: i.slope for i in inputs}
        self.steepest = max(self.slopes, key=self.slopes.get)
        self.next(self.end)

    @step
    def end(self):
        print("steepest trend:", self.steepest, self.slopes[self.steepest])


if __name__ == "__main__":
    RegionTrendFlow()
