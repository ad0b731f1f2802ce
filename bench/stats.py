"""Figures: percentiles, medians of repetitions, ratios, and the table they are printed in."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_ms(samples: list[float]) -> dict[str, float]:
    """p50/p99/max of latencies given in seconds, in milliseconds."""
    return {
        "p50_ms": percentile(samples, 50) * 1000,
        "p99_ms": percentile(samples, 99) * 1000,
        "max_ms": max(samples, default=math.nan) * 1000,
        "n": float(len(samples)),
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratio(ours: float, reference: float) -> float:
    return ours / reference if reference else math.nan


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed wall time in seconds."""
    out: list[float] = []
    started = time.perf_counter()
    try:
        yield out
    finally:
        out.append(time.perf_counter() - started)


@dataclass
class Row:
    """One line of the table: our figure, the reference measured beside it, and the goal."""

    section: str
    figure: str
    ours: float
    unit: str
    reference: float | None = None
    ref_label: str = ""
    goal: str = ""
    met: bool | None = None
    compare: bool = True  # False: the reference is another figure (p99 beside p50), no ratio

    @property
    def ratio(self) -> float | None:
        if self.reference is None or not self.compare:
            return None
        return ratio(self.ours, self.reference)


@dataclass
class Results:
    """Everything one run measured: table rows and every raw figure, by section."""

    rows: list[Row] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def record(self, section: str, name: str, value: Any) -> None:
        self.figures.setdefault(section, {})[name] = value


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _goal(row: Row) -> str:
    if not row.goal:
        return ""
    mark = {True: "met", False: "MISSED", None: ""}[row.met]
    return f"{row.goal} {mark}".strip()


def render(rows: list[Row]) -> str:
    """A plain-text (also Markdown) table of ``rows``."""
    header = ["section", "figure", "ours", "unit", "reference", "ours/ref", "goal"]
    lines = [
        [
            r.section,
            r.figure,
            _num(r.ours),
            r.unit,
            f"{_num(r.reference)} {r.ref_label}".strip() if r.reference is not None else "",
            f"{r.ratio:.2f}x" if r.ratio is not None else "",
            _goal(r),
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "| " + " | ".join(f"{{:{w}}}" for w in widths) + " |"
    out = [fmt.format(*header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [fmt.format(*line) for line in lines]
    return "\n".join(out)
