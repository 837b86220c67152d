"""The daemon's own HTTP server: liveness and readiness probes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from aiohttp import web

from notifier.core.timestamps import parse_ts
from notifier.store import Store


def readiness(
    store: Store, target_keys: Sequence[tuple[str, str]], now: datetime, max_age: timedelta
) -> dict[str, str]:
    """The scopes that have not been polled successfully within `max_age` and why."""
    states = {(s.name, s.scope): s for s in store.source_states()}
    late: dict[str, str] = {}
    for name, scope in target_keys:
        label = f"{name}/{scope}" if scope else name
        state = states.get((name, scope))
        success = parse_ts(state.last_success_at) if state else None
        if success is None:
            late[label] = "never polled successfully"
        elif now - success > max_age:
            late[label] = f"last success {int((now - success).total_seconds())}s ago"
    return late


def create_app(
    store: Store,
    target_keys: Sequence[tuple[str, str]],
    *,
    interval: timedelta,
    clock: Callable[[], datetime],
) -> web.Application:
    """`/healthz`: the process answers. `/readyz`: every scope polled within 3 x interval."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        late = readiness(store, target_keys, clock(), 3 * interval)
        if late:
            return web.json_response({"status": "unready", "sources": late}, status=503)
        return web.json_response({"status": "ready"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
