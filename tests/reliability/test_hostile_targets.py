"""Hostile webhook targets (issue 14): an answer's body is read only as far as a bounded
prefix, whatever its size, so deliveries cannot be made to hold a target's 100 MB answer."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from notifier.channels.base import DeliveryError
from notifier.channels.webhook import BatchWebhookChannel, WebhookChannel
from notifier.core.samples import sample_event
from tests.harness import WEBHOOK_SECRET, serve

MB = 1024 * 1024


@dataclass
class Flooding:
    """A webhook target answering every POST with `status` and `size` bytes, streamed."""

    status: int
    size: int
    sent: int = 0
    requests: int = 0
    url: str = ""
    _runner: web.AppRunner | None = field(default=None, repr=False)

    async def start(self) -> Flooding:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.requests += 1
            await request.read()
            response = web.StreamResponse(status=self.status)
            response.content_length = self.size
            await response.prepare(request)
            chunk = b"x" * 65536
            try:
                while self.sent < self.size * self.requests:
                    await response.write(chunk)
                    self.sent += len(chunk)
            except (ConnectionError, RuntimeError):
                pass  # the notifier hung up, as it should
            return response

        app = web.Application()
        app.router.add_post("/hook", handle)
        self._runner, base = await serve(app)
        self.url = f"{base}/hook"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.mark.parametrize("status", [200, 503])
async def test_a_huge_answer_is_read_only_in_part(status: int) -> None:
    """A 100 MB answer (accepted or refused) ends the request after a bounded prefix: the
    outcome is the status alone, at once, and at most a few MB ever crossed the socket
    (before: the whole body, on each of the four tries)."""
    target = await Flooding(status, 100 * MB).start()
    channel = WebhookChannel("hook", target.url, secret=WEBHOOK_SECRET, timeout=30)
    try:
        started = time.monotonic()
        if status == 200:
            assert await channel.send(sample_event(), "r") == 200
        else:
            with pytest.raises(DeliveryError, match="HTTP 503") as caught:
                await channel.send(sample_event(), "r")
            assert caught.value.retryable
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.2)
        assert target.sent < 16 * MB, target.sent
        assert elapsed < 5, elapsed
    finally:
        await channel.close()
        await target.stop()


async def test_batches_read_their_answer_in_part_too() -> None:
    target = await Flooding(200, 100 * MB).start()
    channel = BatchWebhookChannel("hook", target.url, secret=WEBHOOK_SECRET, timeout=30)
    try:
        events = [sample_event(id=f"evt_{n}") for n in range(3)]
        assert await channel.send_group(events, "r") == 200
        await asyncio.sleep(0.2)
        assert target.sent < 16 * MB, target.sent
    finally:
        await channel.close()
        await target.stop()


async def test_a_small_answer_keeps_the_connection() -> None:
    """Bounded reads do not cost keep-alive: two sends to a target with a short answer go
    over one connection."""
    peers: list[object] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        transport = request.transport
        peers.append(transport.get_extra_info("peername") if transport else None)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner, base = await serve(app)
    channel = WebhookChannel("hook", f"{base}/hook")
    try:
        assert await channel.send(sample_event(), "r") == 200
        assert await channel.send(sample_event(), "r") == 200
        assert len(peers) == 2 and peers[0] == peers[1]
    finally:
        await channel.close()
        await runner.cleanup()
