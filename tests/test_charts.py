"""core.charts: numbers in, geometry and words out (no browser needed)."""

from __future__ import annotations

import re

from notifier.core.charts import css_class, line_chart, nice_ceiling, stacked_bars, stacked_columns


def rectangles(d: str) -> list[tuple[float, float, float, float]]:
    """(x, y, width, height) of each `M x y h w v h h -w z` in a path."""
    pattern = r"M([\d.]+) ([\d.]+)h([\d.]+)v([\d.]+)h-[\d.]+z"
    return [tuple(map(float, m)) for m in re.findall(pattern, d)]  # type: ignore[misc]


class TestStackedColumns:
    def test_columns_stack_in_series_order_and_scale_to_a_nice_ceiling(self) -> None:
        """Heights are proportional to counts, stacked bottom-up in the order given."""
        chart = stacked_columns(
            "t",
            "T",
            ["a", "b", "c"],
            ["ok", "bad"],
            [{"ok": 3, "bad": 1}, {}, {"bad": 2}],
            tick_every=1,
            rows_every=1,
            what="transitions",
        )
        ok, bad = chart.areas
        assert (ok.series, bad.series) == ("ok", "bad")
        plot = chart.bottom - chart.top
        [(x_ok, y_ok, _, h_ok)] = rectangles(ok.d)
        [(x_b1, y_b1, _, h_b1), (x_b3, _, _, h_b3)] = rectangles(bad.d)
        assert abs(h_ok - plot * 3 / 5) < 0.1  # ceiling 5 for a highest column of 4
        assert abs(h_b1 - plot / 5) < 0.1 and abs(h_b3 - plot * 2 / 5) < 0.1
        assert x_ok == x_b1 < x_b3 and abs(y_b1 + h_b1 - y_ok) < 0.1  # bad sits on ok
        assert chart.y_ticks[-1].label == "5"
        assert chart.summary == "6 transitions (ok 3, bad 3); busiest: a with 4."
        assert chart.rows == (("a", "3", "1", "4"), ("c", "0", "2", "2"))  # empty rows left out

    def test_rows_group_buckets_for_reading(self) -> None:
        """The text alternative sums groups of buckets (hourly rows for 5-minute columns)."""
        values = [{"x": 1}] * 24
        chart = stacked_columns(
            "t",
            "T",
            [str(i) for i in range(24)],
            ["x"],
            values,
            tick_every=6,
            rows_every=12,
            what="things",
        )
        assert chart.rows == (("0 to 11", "12", "12"), ("12 to 23", "12", "12"))
        assert [t.label for t in chart.x_ticks] == ["0", "6", "12", "18"]

    def test_nothing_to_draw_says_so(self) -> None:
        chart = stacked_columns(
            "t", "T", ["a"], ["x"], [{}], tick_every=1, rows_every=1, what="events"
        )
        assert chart.areas == () and chart.rows == ()
        assert chart.summary == "No events in this period."


class TestLineChart:
    def test_a_gap_splits_the_line_and_a_lone_point_still_shows(self) -> None:
        """None is no data: two lines, one of them a single point drawn as a dot."""
        chart = line_chart(
            "d",
            "D",
            ["a", "b", "c", "d"],
            {"p50": [1.0, 2.0, None, 4.0]},
            tick_every=1,
            unit="s",
            what="delay",
        )
        first, second = chart.lines
        assert len(first.points.split()) == 2 and len(second.points.split()) == 2
        assert chart.summary == "delay: latest p50 4s; highest p50 4s."
        assert chart.rows == (("a", "1s"), ("b", "2s"), ("d", "4s"))

    def test_rows_take_each_groups_last_known_value(self) -> None:
        chart = line_chart(
            "o",
            "O",
            ["a", "b", "c", "d"],
            {"n": [1.0, 5.0, 2.0, None]},
            tick_every=2,
            rows_every=2,
            unit="",
            what="depth",
        )
        assert chart.rows == (("a to b", "5"), ("c to d", "2"))


class TestStackedBars:
    def test_one_bar_per_group_with_its_outcomes_side_by_side(self) -> None:
        chart = stacked_bars(
            "b",
            "B",
            ["hook", "slack"],
            ["delivered", "dead"],
            {"hook": {"delivered": 8, "dead": 2}},
            what="deliveries",
        )
        delivered, dead = chart.bars
        assert delivered.x + delivered.width == dead.x and delivered.width == 4 * dead.width
        assert [t.label for t in chart.y_ticks] == ["hook", "slack"]
        assert chart.summary == "hook: delivered 8, dead 2."
        assert chart.rows[1] == ("slack", "0", "0", "0") and chart.horizontal


def test_nice_ceiling_and_class_names() -> None:
    """Axis tops of 1, 2 or 5 times a power of ten; series names made safe as classes."""
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 3, 7, 11, 480)] == [1, 0.5, 1, 5, 10, 20, 500]
    assert css_class("PARTIAL_SUCCESS") == "partial-success"
    assert css_class('"><script>') == "script"
    assert css_class("") == "other"
