"""A step that uses far more memory than its @resources asks for, and one that asks for more
than any laptop has and for a GPU (tests/test_embedded_memory.py)."""

import os

from metaflow import FlowSpec, resources, step


class EmbeddedMemoryFlow(FlowSpec):
    @resources(memory=256)
    @step
    def start(self):
        # 1 GiB + 48 MiB per core: past RLIMIT_DATA (memory + 256 MiB + 48 MiB per core,
        # docs/embedded-stack.md) and far past a cgroup's memory.max of 256 MiB.
        mib = 1024 + 48 * (os.cpu_count() or 1)
        hog = bytearray(mib << 20)
        print("allocated", len(hog) >> 20, "MiB")
        self.next(self.train)

    @resources(memory=30_000_000, gpu=1)
    @step
    def train(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    EmbeddedMemoryFlow()
