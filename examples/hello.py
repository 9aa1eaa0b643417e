"""The smallest deployable flow: one parameter, two steps.

    ferry deploy examples/hello.py
    ferry trigger examples/hello.py --greeting Hej
"""

from metaflow import FlowSpec, Parameter, step


class HelloFlow(FlowSpec):
    greeting = Parameter("greeting", help="How to say hello", default="Hello")

    @step
    def start(self):
        self.message = f"{self.greeting} from production"
        print(self.message)
        self.next(self.end)

    @step
    def end(self):
        print("done:", self.message)


if __name__ == "__main__":
    HelloFlow()
