"""Percentiles and timing loops shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between the closest ranks."""
    if not values:
        raise ValueError("no values to take a percentile of")
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def time_ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def sample_ms(calls: Iterable[Callable[[], object]], warmup: int = 1) -> list[float]:
    """Milliseconds of each call, after running the first `warmup` of them untimed."""
    samples = []
    for index, call in enumerate(calls):
        ms = time_ms(call)
        if index >= warmup:
            samples.append(ms)
    return samples


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)
