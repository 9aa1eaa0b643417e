from pathlib import Path

from metaflow import FlowSpec, step

HERE = Path(__file__).parent


class SideEffectFlow(FlowSpec):
    @step
    def start(self):
        (HERE / "ran_start").write_text("a step ran")
        self.next(self.end)

    @step
    def end(self):
        (HERE / "ran_end").write_text("a step ran")


if __name__ == "__main__":
    (HERE / "ran_main").write_text("the main block ran")
    SideEffectFlow()
