"""Durations kept as histograms: they add up day after day (medians do not), with bounded size.

Durations are whole minutes (rounded down). Bins are exact up to 64 minutes, then each doubling of the
duration is cut into 32 bins (HDR-histogram style): a bin is never wider than 1/32 of its lower bound, so a
median or p90 read from the histogram is within 1.6 % of the exact one, whatever the volume. The value of a
bin is the mean of the whole minutes it holds; percentiles interpolate like PostgreSQL's `percentile_cont`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

EXACT_BELOW = 64  # minutes: one bin per minute below this
SUB_BINS = 32  # bins per doubling above


def bin_of(minutes: int) -> int:
    """The lower bound (in minutes) of the bin holding `minutes`."""
    if minutes < EXACT_BELOW:
        return max(minutes, 0)
    width = 1 << (minutes.bit_length() - 1 - SUB_BINS.bit_length() + 1)
    return minutes - minutes % width


def bin_width(lower: int) -> int:
    if lower < EXACT_BELOW:
        return 1
    return 1 << (lower.bit_length() - 1 - SUB_BINS.bit_length() + 1)


def bin_value(lower: int) -> float:
    """The mean of the whole minutes of the bin: the bin's own value when it is one minute wide."""
    return lower + (bin_width(lower) - 1) / 2


# The lower bounds of all the bins, in order, up to the largest duration a PostgreSQL integer holds (2**31 - 1
# minutes): SQL puts a duration in its bin (the last bound at or below it, `width_bucket`) as `bin_of` does.
BIN_LOWERS: tuple[int, ...] = (
    *range(EXACT_BELOW),
    *(lower for k in range(EXACT_BELOW.bit_length() - 1, 31) for lower in range(1 << k, 2 << k, bin_width(1 << k))),
)


def add(into: dict[int, int], other: Mapping[int, int]) -> None:
    for lower, count in other.items():
        into[lower] = into.get(lower, 0) + count


def histogram(minutes: Iterable[int]) -> dict[int, int]:
    result: dict[int, int] = {}
    for value in minutes:
        lower = bin_of(value)
        result[lower] = result.get(lower, 0) + 1
    return result


def percentile(hist: Mapping[int, int], fraction: float) -> float | None:
    """Like `percentile_cont(fraction)` over the bin values, each repeated by its count; None when empty."""
    total = sum(hist.values())
    if total == 0:
        return None
    position = fraction * (total - 1)
    below, above = math.floor(position), math.ceil(position)
    low_value = high_value = None
    seen = 0
    for lower in sorted(hist):
        count = hist[lower]
        if count <= 0:
            continue
        if low_value is None and below < seen + count:
            low_value = bin_value(lower)
        if above < seen + count:
            high_value = bin_value(lower)
            break
        seen += count
    assert low_value is not None and high_value is not None
    return low_value + (high_value - low_value) * (position - below)
