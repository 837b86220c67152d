"""Hostile HTTP clients against the daemon's port: answers bounded, descriptors bounded,
malformed requests logged as one line, never a traceback with the client's bytes."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from notifier import logs
from notifier.core.models import Event, Route
from notifier.core.samples import sample_event
from notifier.core.timestamps import format_ts
from notifier.status.http import MAX_ANSWER_BYTES, create_app
from notifier.status.server import Served, start_server
from notifier.store.db import Store
from tests.harness import free_port

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Served, str, Store]]:
    store = Store(tmp_path / "n.db")
    big = "x" * (1 << 20)  # 1 MB error messages: what a hostile API page can leave behind
    events: list[tuple[Event, list[Route]]] = [
        (
            sample_event(
                id=f"evt_{n:04d}",
                job_id=f"ext-{n}",
                error_message=big,
                detected_at=format_ts(NOW - timedelta(seconds=n)),
            ),
            [],
        )
        for n in range(40)
    ]
    store.commit_cycle(
        name="extract_v2",
        scope="",
        now=format_ts(NOW),
        rows=[],
        events=events,
        watermark=None,
        baseline_done=True,
    )
    app = create_app(store, [], interval=timedelta(seconds=30), clock=lambda: NOW)
    port = free_port()
    server = await start_server(app, "127.0.0.1", port, max_connections=20, idle_timeout=1.0)
    yield server, f"http://127.0.0.1:{port}", store
    await server.cleanup()
    store.close()


async def test_api_answers_are_bounded_and_probes_stay_quick(
    served: tuple[Served, str, Store],
) -> None:
    """Five concurrent `/api/events?limit=1000` over 1 MB events: each answer holds at most
    about MAX_ANSWER_BYTES and says it was cut; `/healthz` answers within 100 ms meanwhile."""
    _, url, _ = served
    async with aiohttp.ClientSession() as http:

        async def events() -> tuple[int, bool]:
            async with http.get(f"{url}/api/events?limit=1000") as answer:
                body = await answer.read()
                return len(body), answer.headers.get("X-Notifier-Truncated") == "true"

        async def probe() -> float:
            started = time.monotonic()
            async with http.get(f"{url}/healthz") as answer:
                assert answer.status == 200
            return time.monotonic() - started

        loads = [asyncio.create_task(events()) for _ in range(5)]
        await asyncio.sleep(0.01)
        probes = [await probe() for _ in range(10)]
        answers = await asyncio.gather(*loads)
    assert all(size <= MAX_ANSWER_BYTES + (1 << 21) and cut for size, cut in answers), answers
    assert max(probes) < 0.1, probes


async def test_idle_connections_cannot_take_every_descriptor(
    served: tuple[Served, str, Store],
) -> None:
    """60 idle connections against a limit of 20: at most 20 are held, the rest closed at
    once; after the idle timeout they are gone and a probe gets its answer."""
    server, url, _ = served
    idle = [
        await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1])) for _ in range(60)
    ]
    await asyncio.sleep(0.2)
    assert server.connections.open <= 20 and server.connections.refused >= 40
    await asyncio.sleep(1.5)
    assert server.connections.open == 0
    async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as answer:
        assert answer.status == 200
    for _, writer in idle:
        writer.close()


async def test_malformed_requests_are_one_line_without_their_bytes(
    served: tuple[Served, str, Store],
) -> None:
    """50 broken requests (NUL in the path, TLS on the HTTP port): one warning line, no
    traceback, none of the client's bytes."""
    _, url, _ = served
    stream = io.StringIO()
    logs.configure_logging("info", "json", stream=stream)
    port = int(url.rsplit(":", 1)[1])
    for n in range(50):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        junk = b"GET /\x00evil-bytes-%d HTTP/1.1\r\nHost: x\r\n\r\n" % n
        writer.write(junk if n % 2 else b"\x16\x03\x01\x02\x00\x01evil-tls\r\n\r\n")
        await writer.drain()
        await reader.read(100)
        writer.close()
    text = stream.getvalue()
    assert "Traceback" not in text and "evil" not in text
    lines = [line for line in text.splitlines() if "bad_http_request" in line]
    assert 1 <= len(lines) <= 2, text
