"""Fixed log-spaced histograms of durations: the daily rollup keeps one per day and filter
values, so that the median and 90th percentile of a long period are read from a few hundred
counts rather than from every duration.

Buckets: [0, 1 min), then one per sixth of a doubling from 1 minute ([60·r^(k-1), 60·r^k),
r = 2^(1/6)) up to about 204 days, then one open bucket. A quantile is read as the geometric
middle of its bucket, so from 1 minute to 204 days it is within `RELATIVE_ERROR` (5.95 %) of the
exact one; below a minute within 30 seconds; past 204 days it reads 204 days. Interpolation
between two order statistics (the inclusive method of `statistics.quantiles`, which the exact
path uses) is applied to the two estimates, and a weighted mean of two estimates each within
the bound is within it too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

FLOOR = 60.0  # seconds: the first bucket holds everything shorter
STEPS_PER_DOUBLING = 6
RATIO = 2 ** (1 / STEPS_PER_DOUBLING)
LAST_BOUNDED = 109  # buckets 1..109 are bounded: up to 60·r^109 s, about 204 days
BUCKETS = LAST_BOUNDED + 2  # with the first and the open one
RELATIVE_ERROR = math.sqrt(RATIO) - 1  # 0.0595


def bucket(seconds: float) -> int:
    """The bucket of a duration (negative ones, clock skew, count as zero)."""
    if seconds < FLOOR:
        return 0
    k = 1 + int(math.log2(seconds / FLOOR) * STEPS_PER_DOUBLING)
    return min(k, LAST_BOUNDED + 1)


def representative(k: int) -> float:
    """The value a bucket stands for (seconds)."""
    if k == 0:
        return FLOOR / 2
    if k > LAST_BOUNDED:
        return FLOOR * RATIO**LAST_BOUNDED
    return FLOOR * RATIO ** (k - 0.5)


def of(values: Iterable[float]) -> list[int]:
    """The histogram of some durations."""
    counts = [0] * BUCKETS
    for value in values:
        counts[bucket(value)] += 1
    return counts


def add(into: list[int], other: Sequence[int]) -> None:
    for k, n in enumerate(other):
        into[k] += n


def _order_statistic(counts: Sequence[int], index: int) -> float:
    """The estimate of the index-th smallest value (0-based)."""
    seen = 0
    for k, n in enumerate(counts):
        seen += n
        if index < seen:
            return representative(k)
    raise IndexError(index)


def quantile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0..1) as `statistics.quantiles(method="inclusive")` places it, from the
    buckets; None when empty."""
    total = sum(counts)
    if not total:
        return None
    position = (total - 1) * q
    low = math.floor(position)
    value = _order_statistic(counts, low)
    fraction = position - low
    if fraction:
        value += fraction * (_order_statistic(counts, low + 1) - value)
    return value
