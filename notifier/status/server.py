"""Serving the daemon's HTTP port without letting clients take what polling needs.

Each open connection holds a file descriptor, and so does every request to LlamaCloud and
every delivery. A flood of idle connections under a descriptor limit (1,024 in many
containers) once left no socket for anything else. So: at most `max_connections` open at a
time (more are closed as soon as they are accepted), a connection that sends nothing for
`idle_timeout` seconds is closed, and `loop`'s accept errors (EMFILE) are logged once per
minute, not once per attempt.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger(__name__)

MAX_CONNECTIONS = 256
IDLE_TIMEOUT = 15.0


class ListenError(Exception):
    """The status server cannot take its address (in use, or not this host's)."""


class _Refused(asyncio.Protocol):
    """A connection over the limit: closed at once, its descriptor freed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class BoundedFactory:
    """aiohttp's protocol factory, counting open connections and closing idle ones."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], limit: int, idle: float) -> None:
        self.factory, self.limit, self.idle = factory, limit, idle
        self.open = 0
        self.refused = 0

    def __call__(self) -> asyncio.BaseProtocol:
        if self.open >= self.limit:
            self.refused += 1
            return _Refused()
        self.open += 1
        return _Watched(self, self.factory())

    def closed(self) -> None:
        self.open -= 1


class _Watched(asyncio.Protocol):
    """Hands every call to aiohttp's protocol; closes the connection after `idle` quiet
    seconds and counts it out when it ends (aiohttp's protocol has slots: no patching)."""

    def __init__(self, owner: BoundedFactory, inner: asyncio.Protocol) -> None:
        self.owner, self.inner = owner, inner
        self.transport: asyncio.BaseTransport | None = None
        self.seen = time.monotonic()
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.timer = asyncio.get_running_loop().call_later(self.owner.idle, self._check)
        self.inner.connection_made(transport)

    def _check(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        quiet = time.monotonic() - self.seen
        if quiet >= self.owner.idle:
            self.transport.close()
        else:
            self.timer = asyncio.get_running_loop().call_later(self.owner.idle - quiet, self._check)

    def data_received(self, data: bytes) -> None:
        self.seen = time.monotonic()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.owner.closed()
        self.inner.connection_lost(exc)


class _OncePerMinute:
    """The loop's exception handler: resource errors of accept() once a minute, one line."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.previous = loop.get_exception_handler()
        self.last = -60.0
        self.skipped = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and "accept" in str(context.get("message", "")):
            now = time.monotonic()
            if now - self.last >= 60:
                log.error(
                    "http_accept_failed", error=error.strerror or str(error), since=self.skipped
                )
                self.last, self.skipped = now, 0
            else:
                self.skipped += 1
            return
        if self.previous is not None:
            self.previous(loop, context)
        else:
            loop.default_exception_handler(context)


def raise_descriptor_limit() -> int:
    """The soft limit of open files up to the hard one (what a container allows); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


class Served:
    """A running server: its runner, its listening socket, its connection count."""

    def __init__(
        self, runner: web.AppRunner, server: asyncio.AbstractServer, factory: BoundedFactory
    ) -> None:
        self.runner, self.server, self.connections = runner, server, factory

    async def cleanup(self) -> None:
        self.server.close()
        await self.runner.cleanup()


async def start_server(
    app: web.Application,
    host: str,
    port: int,
    *,
    max_connections: int | None = None,
    idle_timeout: float = IDLE_TIMEOUT,
) -> Served:
    """Serve `app` on host:port with bounded connections; ListenError if it cannot listen."""
    limit = max_connections or min(MAX_CONNECTIONS, max(16, raise_descriptor_limit() // 4))
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=idle_timeout)
    await runner.setup()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_OncePerMinute(loop))
    assert runner.server is not None
    factory = BoundedFactory(runner.server, limit, idle_timeout)
    try:
        server = await loop.create_server(factory, host, port, reuse_address=True)
    except OSError as exc:
        await runner.cleanup()
        reason = exc.strerror or str(exc)
        raise ListenError(f"http.listen {host}:{port}: cannot listen there ({reason})") from None
    return Served(runner, server, factory)
