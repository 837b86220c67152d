"""Dashboard: server-side time of each page with 100,000 events in the store: all of them in
the last 24 hours (the window every chart reads: the worst case), and spread over 30 days
(the default retention: what a store of that size usually holds).

50,000 jobs with two transitions each, one outbox row per event (two for failures), most
delivered, some retrying, some dead, written through the store's own `commit_cycle`. Each
page is requested over loopback from the daemon's page handlers (`status.pages`); the figure
is the time its handler took (a middleware's clock around it), the round trip beside it.
Refreshed: the settled buckets of the charts are remembered from the previous view, as in a
running daemon; "no bucket remembered" counts all 24 hours again on every request.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

from notifier.core.models import Route, SnapshotRow
from notifier.core.samples import sample_event
from notifier.core.timestamps import format_ts
from notifier.status.page import LiveView
from notifier.status.pages import Dashboard, add_dashboard_routes
from notifier.status.views import ChartMemory
from notifier.store.db import Store

TITLE = "Dashboard"
EVENTS = 100_000
BATCH = 5_000
REQUESTS = 30
BUDGET_MS = 100.0
HOOK, SLACK = Route("all", "hook"), Route("failures", "slack")


def populate(path: Path, events: int, now: datetime, days: float = 1.0) -> str:
    """The store at `path` filled with `events` events over the last `days`; returns the id
    of a failed job whose hook delivery is dead (the job page measured)."""
    rng = random.Random(16)
    store = Store(path)
    window = days * 24 * 3600.0
    dead_job = ""
    for start in range(0, events // 2, BATCH // 2):
        rows, batch = [], []
        for n in range(start, min(start + BATCH // 2, events // 2)):
            job_id = f"ext-{n:08d}-bench"
            began = now - timedelta(seconds=window * (1 - n / (events // 2)) * 0.999)
            ended = began + timedelta(seconds=rng.uniform(5, 60))
            final = rng.choices(["COMPLETED", "FAILED", "CANCELLED"], [80, 15, 5])[0]
            for k, (before, status, at) in enumerate(
                [("PENDING", "RUNNING", began), ("RUNNING", final, min(ended, now))]
            ):
                event = sample_event(
                    id=f"evt_{n:08d}_{k}",
                    job_id=job_id,
                    from_status=before,
                    to_status=status,
                    detected_at=format_ts(at),
                    job_updated_at=format_ts(at - timedelta(seconds=rng.uniform(0.5, 40))),
                    job={"id": job_id, "status": status, "name": f"report-{n}.pdf"},
                )
                batch.append((event, [HOOK, SLACK] if status == "FAILED" else [HOOK]))
            rows.append(
                SnapshotRow(
                    source="extract_v2",
                    job_id=job_id,
                    status=final,
                    project_id=None,
                    created_at=format_ts(began),
                    updated_at=format_ts(ended),
                    status_since=format_ts(ended),
                    transitions=2,
                )
            )
            if final == "FAILED" and not dead_job:
                dead_job = job_id
        store.commit_cycle(
            name="extract_v2",
            scope="",
            now=format_ts(now),
            rows=rows,
            events=batch,
            watermark=format_ts(now),
            baseline_done=True,
        )
    with store.transaction() as conn:
        # Times of queueing follow the events; most rows delivered two seconds later, every
        # 100th dead after three attempts, every 50th still retrying.
        conn.execute(
            "UPDATE outbox SET created_at = (SELECT detected_at FROM events e "
            "WHERE e.id = outbox.event_id)"
        )
        conn.execute(
            "UPDATE outbox SET state = 'delivered', attempts = 1, last_status = 200, "
            "delivered_at = strftime('%Y-%m-%dT%H:%M:%f', created_at, '+2 seconds') || '000Z' "
            "WHERE id % 50 != 0"
        )
        conn.execute(
            "UPDATE outbox SET state = 'dead', attempts = 3, last_status = 500, "
            "last_error = 'HTTP 500: upstream unavailable' WHERE id % 100 = 0"
        )
        conn.execute(
            "UPDATE outbox SET attempts = 1, last_status = 502, last_error = 'HTTP 502' "
            "WHERE id % 100 = 50"
        )
        conn.execute(
            "UPDATE outbox SET state = 'dead', attempts = 3, last_error = 'HTTP 500' "
            "WHERE event_id IN (SELECT id FROM events WHERE job_id = ?) AND channel = 'hook'",
            (dead_job,),
        )
    store.close()
    return dead_job


@dataclass
class Figures:
    page: str
    status: int
    size: int
    server_ms: list[float]
    round_trip_ms: list[float]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _measure(path: Path, dead_job: str, now: datetime) -> list[Figures]:
    store = Store(path)
    dashboard = Dashboard(
        store,
        [("extract_v2", ""), ("parse_v2", "")],
        interval=timedelta(seconds=30),
        clock=lambda: now,
        live=LiveView,
        token=None,
        channels=["hook", "slack"],
    )
    handled: list[float] = []

    @web.middleware
    async def timing(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.query.get("cold"):  # as a new process's first view (templates compiled)
            dashboard.memory = ChartMemory()
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            handled.append((time.perf_counter() - started) * 1000)

    app = web.Application(middlewares=[timing])
    add_dashboard_routes(app, dashboard)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    pages = {
        "/ (overview: cards, 4 charts, lists), refreshed": "/",
        "/ with no bucket remembered (a new process)": "/?cold=1",
        "/jobs/{source}/{job_id} (a failed job)": f"/jobs/extract_v2/{dead_job}",
        "/channels/hook (recent failures)": "/channels/hook",
        "/jobs?id= (search, a redirect)": f"/jobs?id={dead_job}",
    }
    figures = []
    try:
        async with aiohttp.ClientSession() as session:
            for label, url in pages.items():
                handled.clear()
                trips: list[float] = []
                status, size = 0, 0
                for n in range(REQUESTS + 3):
                    started = time.perf_counter()
                    async with session.get(base + url, allow_redirects=False) as answer:
                        size = len(await answer.read())
                        status = answer.status
                    if n >= 3:  # the first requests compile the templates
                        trips.append((time.perf_counter() - started) * 1000)
                figures.append(Figures(label, status, size, handled[3:], trips))
    finally:
        await runner.cleanup()
        store.close()
    return figures


SCENARIOS = {"all in the last 24 h": 1.0, "over 30 days": 30.0}


def run(events: int = EVENTS) -> dict[str, list[Figures]]:
    now = datetime.now(UTC)
    found = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, days in SCENARIOS.items():
            path = Path(folder) / f"dashboard-{days:g}.db"
            dead_job = populate(path, events, now, days)
            found[name] = asyncio.run(_measure(path, dead_job, now))
    return found


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def report(scenarios: dict[str, list[Figures]]) -> str:
    lines = [
        f"{EVENTS:,} events, {REQUESTS} requests per page; budget {BUDGET_MS:.0f} ms server-side.",
        "",
        "| events | page | answer | bytes | server p50 | server p95 | server max "
        "| round trip p50 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario, figures in scenarios.items():
        for f in figures:
            lines.append(
                f"| {scenario} | {f.page} | {f.status} | {f.size:,} "
                f"| {statistics.median(f.server_ms):.1f} ms | {_p95(f.server_ms):.1f} ms "
                f"| {max(f.server_ms):.1f} ms | {statistics.median(f.round_trip_ms):.1f} ms |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
