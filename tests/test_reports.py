"""store.reports: the dashboard's reads, against real SQLite files; each one an index range."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.core.models import Event, Route
from notifier.core.samples import sample_event
from notifier.core.timestamps import format_ts
from notifier.status.views import ChartMemory, charts, outbox_depths
from notifier.store import db as store_db
from notifier.store import schema
from notifier.store.db import Store
from notifier.store.reports import Reports

NOW = datetime(2026, 12, 1, 12, 7, 30, tzinfo=UTC)
HOUR = int(NOW.timestamp()) // 3600


def change(n: int, at: datetime, delay_s: float, status: str = "COMPLETED") -> Event:
    return sample_event(
        id=f"evt_{n}",
        job_id=f"ext-{n}",
        to_status=status,
        detected_at=format_ts(at),
        job_updated_at=format_ts(at - timedelta(seconds=delay_s)),
    )


def commit(store: Store, events: list[Event], routes: list[Route] | None = None) -> None:
    store.commit_cycle(
        name="extract_v2",
        scope="",
        now=format_ts(NOW),
        rows=[],
        events=[(e, routes or [Route("all", "hook")]) for e in events],
        watermark=None,
        baseline_done=True,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "notifier.db")


def test_every_dashboard_query_reads_an_index(store: Store) -> None:
    """No statement the overview, a job page or a channel page runs scans a table."""
    commit(store, [change(n, NOW - timedelta(minutes=n), n) for n in range(20)])
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    reports = Reports(store.conn)
    charts(reports, NOW, ChartMemory(), ["hook"])
    reports.deliveries("dead", 25)
    reports.failing(50, channel="hook")
    reports.failing(50)
    reports.channel_counts("hook", ("delivered", "dead"))
    reports.job_events("extract_v2", "ext-1")
    reports.job_deliveries("extract_v2", "ext-1")
    reports.find_job("ext-1", ["extract_v2", "parse_v2"])
    store.conn.set_trace_callback(None)
    assert len(statements) > 10
    for sql in statements:
        for row in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}"):
            detail = row[3]
            assert not re.match(r"SCAN (events|outbox|jobs)\b", detail), (detail, sql)


def test_delay_percentiles_are_the_nearest_rank_of_each_hour(store: Store) -> None:
    """p50 and p95 of an hour's delays, as sorted by hand; an hour without any is None."""
    delays = [0.5, 1.0, 1.5, 2.0, 30.0, 3.0, 4.0, 2.5, 1.2, 7.0, 0.8]
    base = datetime.fromtimestamp(HOUR * 3600, tz=UTC)
    commit(store, [change(n, base + timedelta(minutes=n), d) for n, d in enumerate(delays)])
    first = sample_event(id="evt_new", detected_at=format_ts(base), job_updated_at=None)
    commit(store, [first])  # no updated_at: no delay, not counted
    ordered = sorted(delays)
    quantiles = (0.1, 0.5, 0.95)  # walked from the bottom, then from the top
    expected = [ordered[math.ceil(q * len(ordered)) - 1] for q in quantiles]
    found = Reports(store.conn).delay_percentiles([HOUR, HOUR - 1], quantiles)
    assert found == [expected, [None, None, None]]


def test_outbox_depth_drawn_back_from_now_matches_the_rows(store: Store) -> None:
    """Depth at each quarter's end equals the rows queued by then and not delivered by then."""
    events = [change(n, NOW - timedelta(minutes=50 - n * 10), 1) for n in range(5)]
    commit(store, events)
    rows = store.outbox.list_deliveries(limit=10)
    ids = sorted(d.id for d in rows)
    queued_at = {i: NOW - timedelta(minutes=50 - k * 10) for k, i in enumerate(ids)}
    delivered_at = {ids[0]: NOW - timedelta(minutes=35), ids[2]: NOW - timedelta(minutes=2)}
    with store.transaction() as conn:
        for i, at in queued_at.items():
            conn.execute("UPDATE outbox SET created_at = ? WHERE id = ?", (format_ts(at), i))
        for i, at in delivered_at.items():
            conn.execute(
                "UPDATE outbox SET state = 'delivered', delivered_at = ? WHERE id = ?",
                (format_ts(at), i),
            )
    bounds = [
        (
            format_ts(NOW.replace(minute=0, second=0) + timedelta(minutes=m)),
            format_ts(NOW.replace(minute=0, second=0) + timedelta(minutes=m + 15)),
        )
        for m in range(-60, 15, 15)
    ]
    settled = format_ts(NOW - timedelta(minutes=15))
    depths = outbox_depths(Reports(store.conn), bounds, ChartMemory(), settled)
    # Quarters end at 11:15, 11:30, 11:45, 12:00 and 12:15; rows came at 11:17, 11:27,
    # 11:37, 11:47 and 11:57, two of them went at 11:32 and 12:05.
    assert depths == [0, 2, 2, 4, 3]
    chart = charts(Reports(store.conn), NOW, ChartMemory(), ["hook"])[3]
    assert chart.summary == "outbox depth: latest rows waiting 3; highest rows waiting 4."


def test_settled_buckets_are_remembered_and_recent_ones_recounted(store: Store) -> None:
    """A refresh recounts only the last buckets: what lands there shows at once."""
    memory = ChartMemory()
    commit(store, [change(1, NOW - timedelta(hours=2), 3)])
    first = charts(Reports(store.conn), NOW, memory, ["hook"])[0]
    assert first.summary.startswith("1 transitions")
    late_old = change(2, NOW - timedelta(hours=2), 3)  # as if committed two hours late
    recent = change(3, NOW - timedelta(minutes=1), 3)
    commit(store, [late_old, recent])
    again = charts(Reports(store.conn), NOW, memory, ["hook"])[0]
    assert again.summary.startswith("2 transitions")  # the settled bucket kept its count
    fresh = charts(Reports(store.conn), NOW, ChartMemory(), ["hook"])[0]
    assert fresh.summary.startswith("3 transitions")  # a new process counts everything


def test_the_migration_gives_existing_events_their_delay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store from before the dashboard: its recorded events get a delay when indexed."""
    path = tmp_path / "old.db"
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:8])
        patch.setattr(store_db, "MIGRATIONS", schema.MIGRATIONS[:8])
        old = Store(path)
        assert old.schema_version() == 8
        commit(old, [change(1, NOW, 12.34)])
        old.close()
    store = Store(path)
    assert store.schema_version() == 9
    assert store.conn.execute("SELECT delay_ds FROM events").fetchall() == [(123,)]
    assert Reports(store.conn).delay_percentiles([HOUR], (0.5,)) == [[12.3]]


def test_the_dashboard_bench_runs_against_the_current_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make bench` is not run by CI: its store writer and pages run here at a small size."""
    from bench import dashboard

    monkeypatch.setattr(dashboard, "REQUESTS", 2)
    found = dashboard.run(events=1_000)
    assert list(found) == list(dashboard.SCENARIOS)
    for figures in found.values():
        answers = {f.page: f.status for f in figures}
        assert set(answers.values()) == {200, 303}, answers
        overview = figures[0]
        assert overview.size > 20_000 and len(overview.server_ms) == 2
    assert "| over 30 days |" in dashboard.report(found)
