"""delivery: the outbox worker against real loopback targets and a real SQLite file."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from notifier.channels.webhook import WebhookChannel
from notifier.core.models import Event, Route
from notifier.core.retry import Backoff, RetryPolicy
from notifier.core.samples import sample_event
from notifier.core.timestamps import format_ts
from notifier.delivery import OutboxWorker
from notifier.store.db import Store
from tests.harness import serve as serve_app

FAST = RetryPolicy(
    max_attempts=5,
    max_age=timedelta(hours=1),
    backoff=Backoff(base=0.01, cap=0.05),
)


def now() -> datetime:
    return datetime.now(UTC)


def event(ident: str, job_id: str = "ext-1", to_status: str = "RUNNING") -> Event:
    return sample_event(
        id=ident,
        job_id=job_id,
        from_status="PENDING",
        to_status=to_status,
        detected_at=format_ts(now()),
    )


class Endpoint:
    """A loopback target: scripted statuses first, then 204; optional delay; records event ids."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.delay = delay
        self.ids: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.ids.append(request.headers["webhook-id"])
        return web.Response(status=self.statuses.pop(0) if self.statuses else 204)


# The `serve` fixture: starts an endpoint on a loopback port and returns it, its url set.
Serve = Callable[[Endpoint], Awaitable[Endpoint]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(endpoint: Endpoint) -> Endpoint:
        app = web.Application()
        app.router.add_post("/", endpoint.handle)
        runner, base = await serve_app(app)
        runners.append(runner)
        endpoint.url = f"{base}/"
        return endpoint

    yield start
    for runner in runners:
        await runner.cleanup()


def queue(store: Store, *items: tuple[Event, str]) -> None:
    for ev, channel in items:
        store.commit_cycle(
            name="extract_v2",
            scope="",
            now=ev.detected_at,
            rows=[],
            events=[(ev, [Route("r", channel)])],
            watermark=None,
            baseline_done=True,
        )


def worker(
    store: Store, endpoints: dict[str, Endpoint], policy: RetryPolicy = FAST
) -> OutboxWorker:
    channels = {name: WebhookChannel(name, ep.url, timeout=5) for name, ep in endpoints.items()}
    return OutboxWorker(
        store, channels, dict.fromkeys(endpoints, policy), clock=now, rng=random.Random(0)
    )


async def run_until(
    w: OutboxWorker, condition: Callable[[], object], timeout: float = 10.0
) -> None:
    w.start()
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)
    finally:
        await w.stop(grace=1)
        for channel in w.channels.values():
            await channel.close()


async def test_three_failures_then_success_delivers_exactly_once(
    serve: Serve, tmp_path: Path
) -> None:
    """500, 500, 500, then 204: four attempts, delivered once, recorded as delivered."""
    store = Store(tmp_path / "n.db")
    ep = await serve(Endpoint([500, 500, 500]))
    queue(store, (event("evt_a"), "hook"))
    w = worker(store, {"hook": ep})
    await run_until(w, lambda: store.outbox.list_deliveries(state="delivered"))
    (row,) = store.outbox.list_deliveries()
    assert (row.state, row.attempts, row.last_status) == ("delivered", 4, 204)
    assert ep.ids == ["evt_a"] * 4


async def test_endless_failure_ends_in_dead_letter_with_reason(
    serve: Serve, tmp_path: Path
) -> None:
    """A target that keeps answering 500 is given up after max_attempts, reason recorded."""
    store = Store(tmp_path / "n.db")
    ep = await serve(Endpoint([500] * 100))
    queue(store, (event("evt_a"), "hook"))
    w = worker(store, {"hook": ep})
    await run_until(w, lambda: store.outbox.list_deliveries(state="dead"))
    (row,) = store.outbox.list_deliveries(state="dead")
    assert row.attempts == FAST.max_attempts
    assert row.last_status == 500 and "HTTP 500" in (row.last_error or "")
    assert len(ep.ids) == FAST.max_attempts


async def test_permanent_4xx_is_dead_at_once(serve: Serve, tmp_path: Path) -> None:
    """A 404 is not retried."""
    store = Store(tmp_path / "n.db")
    ep = await serve(Endpoint([404]))
    queue(store, (event("evt_a"), "hook"))
    w = worker(store, {"hook": ep})
    await run_until(w, lambda: store.outbox.list_deliveries(state="dead"))
    assert [d.attempts for d in store.outbox.list_deliveries(state="dead")] == [1] and ep.ids == [
        "evt_a"
    ]


async def test_slow_target_delays_no_other_channel(serve: Serve, tmp_path: Path) -> None:
    """While one target takes 3 s per request, another channel's rows are all delivered."""
    store = Store(tmp_path / "n.db")
    slow = await serve(Endpoint(delay=3.0))
    fast = await serve(Endpoint())
    queue(store, *[(event(f"evt_s{i}", f"ext-s{i}"), "slow") for i in range(3)])
    queue(store, *[(event(f"evt_f{i}", f"ext-f{i}"), "fast") for i in range(20)])
    w = worker(store, {"slow": slow, "fast": fast})
    started = asyncio.get_running_loop().time()
    await run_until(w, lambda: len(fast.ids) == 20, timeout=2.5)
    assert asyncio.get_running_loop().time() - started < 2.5
    assert slow.ids == []  # still in flight: the fast channel did not wait for it
    assert (
        len(store.outbox.list_deliveries(state="pending", channel="slow")) == 3
    )  # cancelled, still queued


async def test_a_jobs_transitions_arrive_in_detection_order(serve: Serve, tmp_path: Path) -> None:
    """The second transition of a job waits for the first, even when the first is retried."""
    store = Store(tmp_path / "n.db")
    ep = await serve(Endpoint([500, 500]))
    queue(
        store,
        (event("evt_1", "ext-1", "RUNNING"), "hook"),
        (event("evt_2", "ext-1", "COMPLETED"), "hook"),
    )
    w = worker(store, {"hook": ep})
    await run_until(w, lambda: len(store.outbox.list_deliveries(state="delivered")) == 2)
    assert ep.ids == ["evt_1", "evt_1", "evt_1", "evt_2"]


async def test_drain_sends_what_is_due_and_leaves_failures_queued(
    serve: Serve, tmp_path: Path
) -> None:
    """`notifier once` delivers due rows and leaves a failing one pending for later."""
    store = Store(tmp_path / "n.db")
    good, bad = await serve(Endpoint()), await serve(Endpoint([503]))
    queue(store, (event("evt_g"), "good"), (event("evt_b"), "bad"))
    w = worker(store, {"good": good, "bad": bad})
    assert await w.drain() == 2
    for channel in w.channels.values():
        await channel.close()
    assert [d.event.id for d in store.outbox.list_deliveries(state="delivered")] == ["evt_g"]
    assert [d.event.id for d in store.outbox.list_deliveries(state="failed")] == ["evt_b"]


async def test_channel_rate_paces_sends(serve: Serve, tmp_path: Path) -> None:
    """At 5 sends per second, 6 deliveries take about a second, never faster."""
    store = Store(tmp_path / "n.db")
    ep = await serve(Endpoint())
    queue(store, *[(event(f"evt_{i}", f"ext-{i}"), "hook") for i in range(6)])
    channels = {"hook": WebhookChannel("hook", ep.url, timeout=5)}
    w = OutboxWorker(store, channels, {"hook": FAST}, clock=now, rates={"hook": 5.0})
    started = asyncio.get_running_loop().time()
    await run_until(w, lambda: len(ep.ids) == 6)
    assert asyncio.get_running_loop().time() - started >= 0.95
