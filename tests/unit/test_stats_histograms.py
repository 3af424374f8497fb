"""Duration histograms: exact below 64 minutes, within 1/32 above, percentiles like percentile_cont."""

from __future__ import annotations

import bisect
import random
import statistics

from hypothesis import given
from hypothesis import strategies as st

from services.core.stats.histograms import BIN_LOWERS, bin_of, bin_value, bin_width, histogram, percentile


def percentile_cont(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def test_exact_below_64_minutes() -> None:
    assert [bin_of(m) for m in (0, 1, 30, 63)] == [0, 1, 30, 63]
    assert percentile(histogram([10, 20, 30]), 0.5) == 20 and percentile(histogram([10, 20, 30]), 0.9) == 28
    assert percentile({}, 0.5) is None


@given(st.integers(min_value=0, max_value=500_000))
def test_a_bin_holds_its_minutes_and_is_narrow(minutes: int) -> None:
    lower = bin_of(minutes)
    assert lower <= minutes < lower + bin_width(lower)
    assert bin_width(lower) == 1 or bin_width(lower) * 32 <= lower
    assert bin_of(lower + bin_width(lower) - 1) == lower


@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_the_last_bound_at_or_below_a_duration_is_its_bin(minutes: int) -> None:
    # What SQL reads with width_bucket over BIN_LOWERS, for any duration a PostgreSQL integer holds.
    assert BIN_LOWERS[bisect.bisect_right(BIN_LOWERS, minutes) - 1] == bin_of(minutes)


def test_bin_bounds_are_every_bin_once_in_order() -> None:
    # Each bin starts where the one before ends, from 0 to the end of the last one, at 2**31 minutes.
    ends = [lower + bin_width(lower) for lower in BIN_LOWERS]
    assert BIN_LOWERS[0] == 0 and list(BIN_LOWERS[1:]) == ends[:-1] and ends[-1] == 2**31
    assert all(bin_of(lower) == lower for lower in BIN_LOWERS)


@given(st.lists(st.integers(min_value=0, max_value=30_000), min_size=1, max_size=200), st.sampled_from((0.5, 0.9)))
def test_percentiles_are_percentile_cont_over_bin_values(values: list[int], fraction: float) -> None:
    expected = percentile_cont([bin_value(bin_of(v)) for v in values], fraction)
    found = percentile(histogram(values), fraction)
    assert found is not None and abs(found - expected) < 1e-9
    exact = percentile_cont([float(v) for v in values], fraction)
    assert abs(found - exact) <= max(0.5, exact / 32)


def test_histograms_add_up_like_the_data() -> None:
    rng = random.Random(4)
    days = [[rng.randint(0, 3000) for _ in range(50)] for _ in range(10)]
    merged: dict[int, int] = {}
    for day in days:
        for lower, n in histogram(day).items():
            merged[lower] = merged.get(lower, 0) + n
    everything = [v for day in days for v in day]
    assert merged == histogram(everything)
    assert percentile(merged, 0.5) == percentile_cont([bin_value(bin_of(v)) for v in everything], 0.5)
    assert statistics.median(everything) > 0
