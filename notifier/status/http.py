"""The daemon's HTTP server: the routes of the probes, Prometheus metrics, the JSON API and
the dashboard (its routes in `status.pages`).

`/healthz`, `/readyz` and `/metrics` are open (probes and scrapers); `/` and `/api/` take an
optional bearer token. Everything shown is redacted; the page needs no build step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from notifier.core.durations import since_timestamp
from notifier.core.hints import bearer_matches
from notifier.core.render import event_record, iso_ms
from notifier.secrets import redact
from notifier.status.hooks import NativeHooks, hook_handler
from notifier.status.metrics import Metrics
from notifier.status.page import LiveView, label_of, readiness
from notifier.status.pages import Dashboard, add_dashboard_routes
from notifier.store.db import Store
from notifier.store.outbox import Delivery

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


# What one answer of the JSON API may hold (the stored events it is made of): events that
# carry megabytes each would otherwise let a few concurrent requests take gigabytes.
MAX_ANSWER_BYTES = 4 << 20


def _bounded(records: list[dict[str, Any]], truncated: bool) -> web.Response:
    """A JSON list; cut short (fewer than `limit`) when the answer reached its size bound,
    as `X-Notifier-Truncated: true` says: ask again with `since` or a smaller `limit`."""
    headers = {"X-Notifier-Truncated": "true"} if truncated else None
    return web.json_response(records, headers=headers)


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
    live: Callable[[], LiveView] | None = None,
    hooks: NativeHooks | None = None,
    reload: Callable[[], tuple[int, dict[str, Any]]] | None = None,
    sources: Mapping[str, str] | None = None,
    channels: Sequence[str] = (),
) -> web.Application:
    """The application; `token`, when set, guards `/` and `/api/`. `live`: what the daemon
    holds in memory (baselines in progress, budget shares) for `/readyz` and the page.
    `sources` (name -> type of each named source) and `channels` (configured names) are
    for the dashboard."""

    def now_live() -> LiveView:
        return live() if live is not None else LiveView()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        open_paths = ("/healthz", "/readyz", "/metrics")
        hook_path = hooks.path if hooks is not None else None
        guarded = token is not None and request.path not in (*open_paths, hook_path)
        if guarded and not bearer_matches(token or "", request.headers.get("Authorization")):
            return web.json_response(
                {"error": "this endpoint needs Authorization: Bearer <http.token>"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await handler(request)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        view = now_live()
        if view.fatal:  # the store is damaged: no answer from it can be trusted now
            return web.json_response({"status": "unready", "store": view.fatal}, status=503)
        late = readiness(store, target_keys, clock(), 3 * interval, view.baselines)
        baselines = {
            key: {
                "pages": info.pages,
                "jobs": info.jobs,
                "fraction": info.fraction,
                "seconds_left": info.seconds_left,
            }
            for key, info in view.baselines.items()
        }
        # A baseline in progress gates readiness: that scope's notifications start when it ends.
        body: dict[str, Any] = {"baselines": baselines, "gates_on_baselines": True}
        if late:
            return web.json_response({"status": "unready", "sources": late, **body}, status=503)
        return web.json_response({"status": "ready", **body})

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
            max_bytes=MAX_ANSWER_BYTES,
        )
        return _bounded([event_record(e) for e in events], store.truncated)

    async def api_deliveries(request: web.Request) -> web.Response:
        state = request.query.get("state")
        if state not in (None, "pending", "failed", "dead", "delivered", "muted", "suppressed"):
            raise web.HTTPBadRequest(text="state must be pending, failed, dead or delivered")
        found = store.outbox.list_deliveries(
            state=state,
            channel=request.query.get("channel"),
            limit=_limit(request),
            max_bytes=MAX_ANSWER_BYTES,
        )
        return _bounded([delivery_json(d) for d in found], store.outbox.truncated)

    async def api_sources(_: web.Request) -> web.Response:
        sweeps = {(p.name, p.scope): p for p in store.sweeps.positions()}
        view = now_live()

        def sweep(name: str, scope: str) -> dict[str, Any] | None:
            p = sweeps.get((name, scope))
            if p is None:
                return None
            return {
                "running": p.running,
                "slices": p.slices,
                "slices_done": p.slices_done,
                "pages": p.pages,
                "found": p.found,
                "passes": p.passes,
                "last_completed_at": iso_ms(p.last_completed_at),
                "last_pass_seconds": p.last_pass_seconds,
            }

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
                    "sweep": sweep(s.name, s.scope),
                    "budget_share": view.shares.get(label_of(s.name, s.scope), {}),
                    "last_cycle_requests": view.cycle_requests.get(label_of(s.name, s.scope)),
                }
                for s in store.source_states()
            ]
        )

    app = web.Application(middlewares=[guard])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/api/events", api_events)
    app.router.add_get("/api/deliveries", api_deliveries)
    app.router.add_get("/api/sources", api_sources)
    dashboard = Dashboard(
        store,
        target_keys,
        interval=interval,
        clock=clock,
        live=now_live,
        token=token,
        sources=sources,
        channels=channels,
    )
    add_dashboard_routes(app, dashboard)
    if hooks is not None:  # off (404) unless native_webhooks has a secret or a token
        app.router.add_post(hooks.path, hook_handler(hooks))
    if reload is not None:  # guarded by http.token like /api/ (it is not an open path)

        async def reload_config(_: web.Request) -> web.Response:
            status, body = reload()
            return web.json_response(body, status=status)

        app.router.add_post("/-/reload", reload_config)
    return app
