"""Charts as geometry: numbers in, rectangles, polylines, ticks and a text alternative out.

Pure (no clock, no I/O, no markup): the status page's templates draw these records as inline
SVG, autoescaped like everything else, so the page needs no JavaScript library and no
external asset, and a test can check a chart's numbers without a browser. Every chart says
in words what it shows (`summary`) and keeps its numbers as a table (`rows`), so it reads
without the picture: screen readers, text browsers, `curl`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WIDTH = 720.0
HEIGHT = 180.0
LEFT, RIGHT, TOP, BOTTOM = 52.0, 8.0, 10.0, 22.0


@dataclass(frozen=True, slots=True)
class Bar:
    """One rectangle: a column segment or a horizontal bar segment, with its tooltip."""

    x: float
    y: float
    width: float
    height: float
    series: str  # a CSS class suffix: the colour of the series
    label: str


@dataclass(frozen=True, slots=True)
class Area:
    """The rectangles of one series as one SVG path (`d`), with what they add up to."""

    d: str
    series: str
    label: str


@dataclass(frozen=True, slots=True)
class Line:
    """One polyline of a series (a series with gaps is several lines)."""

    points: str
    series: str


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """What a template needs to draw a chart and to say what it shows."""

    key: str  # unique on the page: element ids
    title: str
    summary: str
    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    legend: tuple[tuple[str, str], ...] = ()  # (series class, words)
    bars: tuple[Bar, ...] = ()
    areas: tuple[Area, ...] = ()
    lines: tuple[Line, ...] = ()
    x_ticks: tuple[Tick, ...] = ()
    y_ticks: tuple[Tick, ...] = ()
    width: float = WIDTH
    height: float = HEIGHT
    left: float = LEFT
    top: float = TOP
    bottom: float = HEIGHT - BOTTOM
    right: float = WIDTH - RIGHT
    horizontal: bool = False  # bars along x, one per group (y ticks name the groups)


@functools.cache
def css_class(name: str) -> str:
    """A series name as a safe class suffix (`PARTIAL_SUCCESS` -> `partial-success`)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "other"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def fmt(value: float) -> str:
    """A number as people read it on an axis: 1,234 or 0.4 or 12.5."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}" if value >= 1 else f"{value:.2g}"


def _y_ticks(top_value: float, top: float, bottom: float, unit: str) -> tuple[Tick, ...]:
    return tuple(
        Tick(bottom - (bottom - top) * share, f"{fmt(top_value * share)}{unit}")
        for share in (0.0, 0.5, 1.0)
    )


def _x_ticks(labels: Sequence[str], every: int, left: float, step: float) -> tuple[Tick, ...]:
    return tuple(
        Tick(left + step * (i + 0.5), label) for i, label in enumerate(labels) if i % every == 0
    )


def _grouped(labels: Sequence[str], every: int) -> list[tuple[str, range]]:
    """Consecutive labels in groups of `every`: the data table's rows (hourly, not per
    5 minutes: a text alternative people can read)."""
    groups = [range(i, min(i + every, len(labels))) for i in range(0, len(labels), every)]
    return [
        (labels[g[0]] if len(g) == 1 else f"{labels[g[0]]} to {labels[g[-1]]}", g) for g in groups
    ]


def stacked_columns(
    key: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[str],
    values: Sequence[Mapping[str, int]],
    *,
    tick_every: int,
    rows_every: int,
    what: str,
) -> Chart:
    """One column per label, stacked by series in the given order (transitions by phase).

    Each series is one SVG path of rectangles, not one element per column: 288 columns of 8
    phases would be thousands of elements to escape and lay out on every refresh.
    """
    frame = Chart(key, title, "", (), ())
    plot_h, plot_w = frame.bottom - frame.top, frame.right - frame.left
    totals = [sum(v.get(s, 0) for s in series) for v in values]
    ceiling = nice_ceiling(max(totals, default=0))
    step = plot_w / max(1, len(labels))
    width = max(step - 0.5, 0.5)
    tops = [frame.bottom] * len(values)
    areas: list[Area] = []
    per_series = {s: sum(v.get(s, 0) for v in values) for s in series}
    for name in series:
        if not per_series[name]:
            continue
        parts = []
        for i, counts in enumerate(values):
            count = counts.get(name, 0)
            if count:
                height = plot_h * count / ceiling
                tops[i] -= height
                x = frame.left + step * i
                parts.append(f"M{x:.1f} {tops[i]:.1f}h{width:.1f}v{height:.1f}h{-width:.1f}z")
        areas.append(Area("".join(parts), css_class(name), f"{name}: {per_series[name]:,}"))
    grand = sum(totals)
    described = ", ".join(f"{s} {n:,}" for s, n in per_series.items() if n)
    if grand:
        busiest = max(range(len(totals)), key=totals.__getitem__)
        summary = (
            f"{grand:,} {what} ({described}); busiest: {labels[busiest]} with {totals[busiest]:,}."
        )
    else:
        summary = f"No {what} in this period."
    rows = []
    for label, span in _grouped(labels, rows_every):
        sums = [sum(values[i].get(s, 0) for i in span) for s in series]
        if any(sums):
            rows.append((label, *(f"{n:,}" for n in sums), f"{sum(sums):,}"))
    return Chart(
        key,
        title,
        summary,
        ("time", *series, "total"),
        tuple(rows),
        legend=tuple((css_class(s), s) for s in series if per_series[s]),
        areas=tuple(areas),
        x_ticks=_x_ticks(labels, tick_every, frame.left, step),
        y_ticks=_y_ticks(ceiling, frame.top, frame.bottom, ""),
    )


def line_chart(
    key: str,
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    tick_every: int,
    rows_every: int = 1,
    unit: str,
    what: str,
) -> Chart:
    """One polyline per series over the labels; a None is a gap (no data then). The data
    table has a row per `rows_every` labels: the group's last known values."""
    frame = Chart(key, title, "", (), ())
    plot_h, plot_w = frame.bottom - frame.top, frame.right - frame.left
    known = [v for values in series.values() for v in values if v is not None]
    ceiling = nice_ceiling(max(known, default=0.0))
    step = plot_w / max(1, len(labels))
    lines: list[Line] = []
    for name, values in series.items():
        run: list[str] = []
        for i, value in enumerate([*values, None]):
            if value is None:
                if run:
                    lines.append(Line(" ".join(run), css_class(name)))
                run = []
                continue
            x = frame.left + step * (i + 0.5)
            y = frame.bottom - plot_h * value / ceiling
            run.append(f"{x:.1f},{y:.1f}")
            if len(run) == 1 and (i + 1 >= len(values) or values[i + 1] is None):
                run.append(f"{x + 0.1:.1f},{y:.1f}")  # a lone point still shows as a dot
    if known:
        latest = {
            name: next((v for v in reversed(values) if v is not None), None)
            for name, values in series.items()
        }
        words = ", ".join(f"{n} {fmt(v)}{unit}" for n, v in latest.items() if v is not None)
        highest = ", ".join(
            f"{n} {fmt(max(v for v in values if v is not None))}{unit}"
            for n, values in series.items()
            if any(v is not None for v in values)
        )
        summary = f"{what}: latest {words}; highest {highest}."
    else:
        summary = f"No {what} in this period."
    rows = []
    for label, span in _grouped(labels, rows_every):
        last = [
            next((vs[i] for i in reversed(span) if vs[i] is not None), None)
            for vs in series.values()
        ]
        if any(v is not None for v in last):
            rows.append((label, *("-" if v is None else f"{fmt(v)}{unit}" for v in last)))
    return Chart(
        key,
        title,
        summary,
        ("time", *series),
        tuple(rows),
        legend=tuple((css_class(n), n) for n in series),
        lines=tuple(lines),
        x_ticks=_x_ticks(labels, tick_every, frame.left, step),
        y_ticks=_y_ticks(ceiling, frame.top, frame.bottom, unit),
    )


def stacked_bars(
    key: str,
    title: str,
    groups: Sequence[str],
    series: Sequence[str],
    values: Mapping[str, Mapping[str, int]],
    *,
    what: str,
) -> Chart:
    """One horizontal bar per group (a channel), stacked by series (outcomes)."""
    row_h, gap, left = 22.0, 8.0, 150.0
    height = TOP + BOTTOM + max(1, len(groups)) * (row_h + gap)
    frame = Chart(key, title, "", (), (), height=height, left=left, bottom=height - BOTTOM)
    plot_w = frame.right - frame.left
    totals = {g: sum(values.get(g, {}).values()) for g in groups}
    ceiling = nice_ceiling(max(totals.values(), default=0))
    bars: list[Bar] = []
    ticks: list[Tick] = []
    for i, group in enumerate(groups):
        y = TOP + i * (row_h + gap)
        ticks.append(Tick(y + row_h / 2, group))
        x = left
        for name in series:
            count = values.get(group, {}).get(name, 0)
            if not count:
                continue
            width = plot_w * count / ceiling
            bars.append(Bar(x, y, width, row_h, css_class(name), f"{group} {name}: {count:,}"))
            x += width
    described = [
        f"{g}: " + ", ".join(f"{n} {values[g][n]:,}" for n in series if values.get(g, {}).get(n))
        for g in groups
        if totals[g]
    ]
    summary = "; ".join(described) + "." if described else f"No {what} recorded."
    used = [s for s in series if any(values.get(g, {}).get(s) for g in groups)]
    return Chart(
        key,
        title,
        summary,
        ("channel", *series, "total"),
        tuple(
            (g, *(f"{values.get(g, {}).get(s, 0):,}" for s in series), f"{totals[g]:,}")
            for g in groups
        ),
        legend=tuple((css_class(s), s) for s in used),
        bars=tuple(bars),
        y_ticks=tuple(ticks),
        x_ticks=tuple(
            Tick(left + plot_w * share, fmt(ceiling * share)) for share in (0.0, 0.5, 1.0)
        ),
        height=height,
        left=left,
        bottom=height - BOTTOM,
        horizontal=True,
    )
