"""`/readyz` and the status page: a baseline in progress gates, a sweep never does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from notifier.core.timestamps import format_ts
from notifier.status.http import create_app
from notifier.status.page import BaselineInfo, LiveView
from notifier.store.db import Store
from notifier.store.sweeps import SweepPosition
from tests.harness import serve

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
KEYS = [("extract_v2", ""), ("parse_v2", "")]


def polled(store: Store, name: str, at: datetime) -> None:
    store.commit_cycle(
        name=name,
        scope="",
        now=format_ts(at),
        rows=[],
        events=[],
        watermark=None,
        baseline_done=True,
    )


async def test_a_baseline_in_progress_is_shown_and_gates_and_a_sweep_does_not(
    tmp_path: Path,
) -> None:
    """parse_v2 is still listing its window: 503 with its progress; extract_v2, sweeping,
    counts as ready. Once the baseline is over, 200."""
    store = Store(tmp_path / "n.db")
    polled(store, "extract_v2", NOW - timedelta(seconds=5))
    store.sweeps.save(
        SweepPosition("extract_v2", "", format_ts(NOW), format_ts(NOW), format_ts(NOW), 48, 3),
        source="extract_v2",
    )
    live = LiveView(baselines={"parse_v2": BaselineInfo(120, 12_000, 0.4, 90.0)})
    views = [live]
    app = create_app(
        store, KEYS, interval=timedelta(seconds=30), clock=lambda: NOW, live=lambda: views[0]
    )
    runner, url = await serve(app)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/readyz") as answer:
                body = await answer.json()
                assert answer.status == 503
            assert body["gates_on_baselines"] is True
            assert body["sources"] == {
                "parse_v2": "baseline in progress: 120 pages, 12,000 jobs, 40% of the lookback "
                "window, about 90s left"
            }
            assert body["baselines"]["parse_v2"]["pages"] == 120
            async with http.get(f"{url}/") as answer:
                page = await answer.text()
            assert "baseline in progress: 120 pages" in page
            assert "pass 3/48 slices" in page
            async with http.get(f"{url}/api/sources") as answer:
                (extract,) = [s for s in await answer.json() if s["name"] == "extract_v2"]
            assert extract["sweep"]["running"] and extract["sweep"]["slices_done"] == 3

            polled(store, "parse_v2", NOW)
            views[0] = LiveView()
            async with http.get(f"{url}/readyz") as answer:
                assert answer.status == 200
                assert (await answer.json())["status"] == "ready"
    finally:
        await runner.cleanup()
        store.close()
