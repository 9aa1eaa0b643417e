from metaflow import FlowSpec, step

from helpers_broken import load_settings

SETTINGS = load_settings()


class BrokenFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
