"""What the servers' ``/metrics`` say that a benchmark reports beside its own figures: the
requests they shed, by reason (which of admission's signals refused what the client saw
refused), and their writes' read-your-writes waits (what a write's answer spent waiting
for its read model: the most an inline projection could save it)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from infra.metrics import READ_YOUR_WRITES_WAIT, REQUESTS_SHED

SHEDS = REQUESTS_SHED.describe()[0].name
"""The shed counter as ``/metrics`` names it (api/admission.py counts into it)."""
WAITS = READ_YOUR_WRITES_WAIT.describe()[0].name
"""The read-your-writes wait histogram (app/runtime.py observes into it)."""


@dataclass
class Scrape:
    """One or more servers' scrapes, summed."""

    sheds: Counter[str] = field(default_factory=Counter)
    buckets: Counter[tuple[str, float]] = field(default_factory=Counter)
    """(projection, bucket's upper bound in seconds) -> waits up to it, both outcomes."""
    late: Counter[str] = field(default_factory=Counter)

    def add(self, text: str) -> None:
        """Add one server's ``/metrics`` text."""
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if family.name == SHEDS and sample.name.endswith("_total"):
                    self.sheds[sample.labels["reason"]] += int(sample.value)
                elif family.name == WAITS and sample.name.endswith("_bucket"):
                    key = (sample.labels["projection"], float(sample.labels["le"]))
                    self.buckets[key] += int(sample.value)
                elif family.name == WAITS and sample.name.endswith("_count"):
                    late = sample.labels["outcome"] == "late"
                    self.late[sample.labels["projection"]] += int(sample.value) if late else 0

    def waits_since(self, before: Scrape) -> dict[str, dict[str, Any]]:
        """Per projection, the waits between ``before`` and this scrape: how many, how many
        ran out (late), and p50/p95 in ms, interpolated within the buckets."""
        found: dict[str, dict[str, Any]] = {}
        for projection in sorted({p for p, _ in self.buckets}):
            cumulative = sorted(
                (bound, count - before.buckets[(projection, bound)])
                for (name, bound), count in self.buckets.items()
                if name == projection
            )
            if cumulative[-1][1] > 0:
                found[projection] = {
                    "count": cumulative[-1][1],
                    "late": self.late[projection] - before.late[projection],
                    "p50": bucket_quantile(cumulative, 0.5),
                    "p95": bucket_quantile(cumulative, 0.95),
                }
        return found


def bucket_quantile(cumulative: list[tuple[float, int]], q: float) -> float:
    """The ``q`` quantile, in ms, of a histogram given as (upper bound, cumulative count),
    linear within the bucket the rank falls in (as PromQL's ``histogram_quantile``); the
    last finite bound when the rank falls in the ``+Inf`` bucket."""
    rank = q * cumulative[-1][1]
    lower, below = 0.0, 0
    for bound, count in cumulative:
        if count >= rank:
            if bound == float("inf"):
                return round(lower * 1000, 1)
            share = (rank - below) / (count - below) if count > below else 1.0
            return round((lower + (bound - lower) * share) * 1000, 1)
        lower, below = bound, count
    return round(lower * 1000, 1)
