"""Dashboard: server-side time of each page with 100,000 events in the store, all of them in
the last 24 hours (the window every chart reads: the worst case, not a month of history).

50,000 jobs with two transitions each, one outbox row per event (two for failures), most
delivered, some retrying, some dead, written through the store's own `commit_cycle`. Each
page is requested over loopback from the daemon's real HTTP application; the figure is the
time its handler took (a middleware's clock around it), the round trip beside it.
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
from notifier.status.http import create_app
from notifier.store.db import Store

TITLE = "Dashboard"
EVENTS = 100_000
BATCH = 5_000
REQUESTS = 30
BUDGET_MS = 100.0
HOOK, SLACK = Route("all", "hook"), Route("failures", "slack")


def populate(path: Path, events: int, now: datetime) -> str:
    """The store at `path` filled with `events` events over the last 24 h; returns the id of
    a failed job whose hook delivery is dead (the job page measured)."""
    rng = random.Random(16)
    store = Store(path)
    window = 24 * 3600.0
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
    server_ms: list[float]
    round_trip_ms: list[float]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _measure(path: Path, dead_job: str, now: datetime) -> list[Figures]:
    store = Store(path)
    app = create_app(
        store,
        [("extract_v2", ""), ("parse_v2", "")],
        interval=timedelta(seconds=30),
        clock=lambda: now,
        token=None,
        channels=["hook", "slack"],
    )
    handled: list[float] = []

    @web.middleware
    async def timing(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            handled.append((time.perf_counter() - started) * 1000)

    app.middlewares.insert(0, timing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    pages = {
        "/ (overview: cards, 4 charts, lists)": "/",
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
                status = 0
                for n in range(REQUESTS + 3):
                    started = time.perf_counter()
                    async with session.get(base + url, allow_redirects=False) as answer:
                        await answer.read()
                        status = answer.status
                    if n >= 3:  # the first requests compile the templates
                        trips.append((time.perf_counter() - started) * 1000)
                figures.append(Figures(label, status, handled[3:], trips))
    finally:
        await runner.cleanup()
        store.close()
    return figures


def run(events: int = EVENTS) -> list[Figures]:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dashboard.db"
        dead_job = populate(path, events, now)
        return asyncio.run(_measure(path, dead_job, now))


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def report(figures: list[Figures]) -> str:
    lines = [
        f"{EVENTS:,} events in the last 24 h, {REQUESTS} requests per page; budget "
        f"{BUDGET_MS:.0f} ms server-side.",
        "",
        "| page | answer | server p50 | server p95 | server max | round trip p50 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in figures:
        lines.append(
            f"| {f.page} | {f.status} | {statistics.median(f.server_ms):.1f} ms "
            f"| {_p95(f.server_ms):.1f} ms | {max(f.server_ms):.1f} ms "
            f"| {statistics.median(f.round_trip_ms):.1f} ms |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
