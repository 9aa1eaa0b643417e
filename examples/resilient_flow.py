"""Fetch exchange rates from a flaky source (@retry), tolerate a broken optional enrichment
(@catch), and bound a step's run time (@timeout).

The fetch step fails on its first attempt and succeeds on the retry; the enrichment always
fails and the flow goes on with the exception stored in `enrich_error`.

    python resilient_flow.py run
"""

from metaflow import FlowSpec, catch, current, retry, step, timeout


def lookup_sectors(currencies):
    """The optional enrichment source: always down in this example."""
    raise ValueError("sector lookup for %s is down (fails on purpose)" % ", ".join(currencies))


class ResilientRatesFlow(FlowSpec):
    @step
    def start(self):
        self.currencies = ["EUR", "GBP", "JPY"]
        self.next(self.fetch)

    @retry(times=1, minutes_between_retries=0)
    @step
    def fetch(self):
        if current.retry_count == 0:
            raise ConnectionError("rate source timed out (first attempt fails on purpose)")
        self.attempts = current.retry_count + 1
        self.rates = {c: round(1 + i * 0.25, 2) for i, c in enumerate(self.currencies)}
        self.next(self.enrich)

    @catch(var="enrich_error", print_exception=False)
    @step
    def enrich(self):
        self.sector_map = lookup_sectors(self.currencies)
        self.next(self.convert)

    @timeout(minutes=1, seconds=30)
    @step
    def convert(self):
        self.amounts_usd = {c: round(100 * r, 2) for c, r in self.rates.items()}
        self.next(self.end)

    @step
    def end(self):
        assert self.attempts == 2, self.attempts
        assert self.enrich_error is not None
        print("converted", self.amounts_usd, "after", self.attempts, "attempts")


if __name__ == "__main__":
    ResilientRatesFlow()
