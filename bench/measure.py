"""Timing and summary statistics."""

import math
import statistics
import time


class Stats:
    """Median, min and max of a list of seconds (the runs after warm-up)."""

    def __init__(self, seconds):
        self.seconds = list(seconds)

    @property
    def ok(self):
        return bool(self.seconds)

    @property
    def median(self):
        return statistics.median(self.seconds) if self.seconds else math.nan

    @property
    def min(self):
        return min(self.seconds) if self.seconds else math.nan

    @property
    def max(self):
        return max(self.seconds) if self.seconds else math.nan

    def as_dict(self):
        return {"median": self.median, "min": self.min, "max": self.max, "runs": self.seconds}


def timed(fn):
    """(seconds, result) of fn()."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def percentile(values, p):
    """The p-th percentile (0..100) by linear interpolation between ranks."""
    if not values:
        return math.nan
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    rank = (len(xs) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)


def geomean(values):
    values = [v for v in values if v and v > 0 and not math.isnan(v)]
    if not values:
        return math.nan
    return math.exp(sum(math.log(v) for v in values) / len(values))
