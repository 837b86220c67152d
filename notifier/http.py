"""The daemon's HTTP server: probes, Prometheus metrics, a status page and a JSON API.

`/healthz`, `/readyz` and `/metrics` are open (probes and scrapers); `/` and `/api/` take an
optional bearer token. Everything shown is redacted; the page needs no build step.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from notifier.core.render import event_record, iso_ms
from notifier.core.timestamps import format_ts, parse_ts
from notifier.durations import since_timestamp
from notifier.errors import ListenError
from notifier.logs import redact
from notifier.metrics import Metrics
from notifier.store import Store
from notifier.store_outbox import Delivery

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REFRESH_SECONDS = 5


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


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "channel": delivery.channel,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "event_id": delivery.event.id,
        "job_id": delivery.event.job_id,
        "source": delivery.event.source,
        "to_status": delivery.event.to_status,
        "rule": delivery.rule,
        "created_at": iso_ms(delivery.created_at),
        "next_attempt_at": iso_ms(delivery.next_attempt_at),
        "delivered_at": iso_ms(delivery.delivered_at),
        "last_status": delivery.last_status,
        "last_error": redact(delivery.last_error) if delivery.last_error else None,
    }


def _limit(request: web.Request, default: int = 100) -> int:
    try:
        return max(1, min(1000, int(request.query.get("limit", default))))
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be an integer") from None


def create_app(
    store: Store,
    target_keys: Sequence[tuple[str, str]],
    *,
    interval: timedelta,
    clock: Callable[[], datetime],
    metrics: Metrics | None = None,
    token: str | None = None,
) -> web.Application:
    """The application; `token`, when set, guards `/` and `/api/`."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        open_paths = ("/healthz", "/readyz", "/metrics")
        if token is not None and request.path not in open_paths:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return web.json_response(
                    {"error": "this endpoint needs Authorization: Bearer <http.token>"},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await handler(request)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        late = readiness(store, target_keys, clock(), 3 * interval)
        if late:
            return web.json_response({"status": "unready", "sources": late}, status=503)
        return web.json_response({"status": "ready"})

    async def prometheus(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry) if metrics is not None else b""
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def api_events(request: web.Request) -> web.Response:
        query = request.query
        try:
            since = since_timestamp(query["since"], clock()) if query.get("since") else None
        except ValueError:
            raise web.HTTPBadRequest(
                text="since: expected an ISO time or a duration such as 1h or 3d"
            ) from None
        events = store.list_events(
            job_id=query.get("job"),
            source=query.get("source"),
            status=query.get("status"),
            since=since,
            limit=_limit(request),
        )
        return web.json_response([event_record(e) for e in events])

    async def api_deliveries(request: web.Request) -> web.Response:
        state = request.query.get("state")
        if state not in (None, "pending", "failed", "dead", "delivered", "muted", "suppressed"):
            raise web.HTTPBadRequest(text="state must be pending, failed, dead or delivered")
        found = store.list_deliveries(
            state=state, channel=request.query.get("channel"), limit=_limit(request)
        )
        return web.json_response([delivery_json(d) for d in found])

    async def api_sources(_: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "name": s.name,
                    "scope": s.scope,
                    "baseline_done": s.baseline_done,
                    "cycles": s.cycles,
                    "watermark": iso_ms(s.watermark),
                    "last_poll_at": iso_ms(s.last_poll_at),
                    "last_success_at": iso_ms(s.last_success_at),
                    "last_error": redact(s.last_error) if s.last_error else None,
                }
                for s in store.source_states()
            ]
        )

    async def page(_: web.Request) -> web.Response:
        return web.Response(
            text=status_page(store, target_keys, clock(), interval), content_type="text/html"
        )

    app = web.Application(middlewares=[guard])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/api/events", api_events)
    app.router.add_get("/api/deliveries", api_deliveries)
    app.router.add_get("/api/sources", api_sources)
    app.router.add_get("/", page)
    return app


def _rows(cells: Sequence[Sequence[object]]) -> str:
    return "".join(
        "<tr>" + "".join(f"<td>{escape('-' if c is None else str(c))}</td>" for c in row) + "</tr>"
        for row in cells
    )


def _table(title: str, headers: Sequence[str], cells: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = _rows(cells) or f'<tr><td colspan="{len(headers)}">none</td></tr>'
    return (
        f"<h2>{escape(title)}</h2>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def status_page(
    store: Store, target_keys: Sequence[tuple[str, str]], now: datetime, interval: timedelta
) -> str:
    """Server-rendered HTML that refreshes itself; every value escaped and redacted."""
    late = readiness(store, target_keys, now, 3 * interval)
    states = {(s.name, s.scope): s for s in store.source_states()}
    sources = []
    for name, scope in target_keys:
        state = states.get((name, scope))
        label = f"{name}/{scope}" if scope else name
        sources.append(
            [
                label,
                "late" if label in late else "ok",
                iso_ms(state.last_poll_at) if state else None,
                iso_ms(state.last_success_at) if state else None,
                state.cycles if state else 0,
                redact(state.last_error) if state and state.last_error else None,
            ]
        )
    events = [
        [iso_ms(e.detected_at), e.type, e.source, e.job_id, e.from_status or "new", e.to_status]
        for e in store.list_events(limit=25)
    ]
    pending = store.list_deliveries(state="pending", limit=25)
    dead = store.list_deliveries(state="dead", limit=25)

    def outbox_rows(rows: list[Delivery]) -> list[list[object]]:
        return [
            [
                d.id,
                d.channel,
                d.event.job_id,
                d.event.to_status,
                d.attempts,
                iso_ms(d.next_attempt_at),
                redact(d.last_error) if d.last_error else None,
            ]
            for d in rows
        ]

    outbox_headers = ["id", "channel", "job", "status", "attempts", "next attempt", "last error"]
    overall = "ready" if not late else "not ready"
    source_headers = ["source", "state", "last poll", "last success", "cycles", "last error"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{_REFRESH_SECONDS}">
<title>llamacloud-notifier: {overall}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; }}
th {{ background: #f3f3f3; }}
</style></head><body>
<h1>llamacloud-notifier: {overall}</h1>
<p>Updated {escape(iso_ms(format_ts(now)) or "")}; polling every {interval.total_seconds():g}s.</p>
{_table("Sources", source_headers, sources)}
{_table("Recent transitions", ["detected", "type", "source", "job", "from", "to"], events)}
{_table("Pending deliveries", outbox_headers, outbox_rows(pending))}
{_table("Dead deliveries", outbox_headers, outbox_rows(dead))}
</body></html>
"""


async def start_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        reason = exc.strerror or str(exc)
        raise ListenError(f"http.listen {host}:{port}: cannot listen there ({reason})") from None
    return runner
