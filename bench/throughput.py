"""Delivery throughput: 10,000 queued events to a loopback webhook receiver (own process),
signed, each marked delivered in the outbox as it is accepted."""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from notifier.channels.webhook import WebhookChannel
from notifier.core.models import Route
from notifier.core.retry import RetryPolicy
from notifier.core.samples import sample_event
from notifier.core.timestamps import format_ts
from notifier.delivery import OutboxWorker
from notifier.store.db import Store

EVENTS = 10_000
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sink() -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.sink", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert sink.stdout is not None
    sink.stdout.readline()
    time.sleep(0.3)
    return sink, f"http://127.0.0.1:{port}/"


def queue(store: Store, count: int) -> None:
    now = format_ts(datetime.now(UTC))
    events = [
        (
            sample_event(
                id=f"evt_{n:024d}",
                job_id=f"ext-{n}",
                to_status="COMPLETED",
                detected_at=now,
            ),
            [Route("all", "hook")],
        )
        for n in range(count)
    ]
    store.commit_cycle(
        name="bench", scope="", now=now, rows=[], events=events, watermark=None, baseline_done=True
    )


async def _deliver(store: Store, url: str, concurrency: int) -> float:
    channel = WebhookChannel("hook", url, secret=SECRET)
    worker = OutboxWorker(
        store,
        {"hook": channel},
        {"hook": RetryPolicy()},
        concurrency=concurrency,
        clock=lambda: datetime.now(UTC),
        rng=random.Random(0),
    )
    started = time.perf_counter()
    worker.start()
    while store.outbox.counts().get(("hook", "delivered"), 0) < EVENTS:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await worker.stop(1)
    await channel.close()
    return EVENTS / elapsed


def run(concurrency: int = 16) -> dict[str, float]:
    sink, url = start_sink()
    try:
        with tempfile.TemporaryDirectory() as folder:
            store = Store(Path(folder) / "outbox.db")
            queue(store, EVENTS)
            rate = asyncio.run(_deliver(store, url, concurrency))
            store.close()
    finally:
        sink.terminate()
        sink.wait()
    return {"events": EVENTS, "concurrency": concurrency, "per_second": rate}


def report(figures: dict[str, float]) -> str:
    return (
        "| queued events | concurrency | deliveries per second |\n| ---: | ---: | ---: |\n"
        f"| {figures['events']:,.0f} | {figures['concurrency']:.0f} "
        f"| {figures['per_second']:,.0f} |"
    )


if __name__ == "__main__":
    print(report(run()))
