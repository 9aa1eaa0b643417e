from metaflow import FlowSpec, project, schedule, step


@project(name="fraud_model", branch="feature_x", production=True)
@schedule(weekly=True)
class BranchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BranchFlow()
