"""The dashboard's routes: `/`, a job's page, the job search, a channel's page, redelivery.

Pages are Jinja2 templates (autoescaped: API text stays text) with their CSS and script
served from the package, so they work offline and in an air-gapped cluster; a
Content-Security-Policy allows nothing else, so even markup that slipped through could
neither run a script nor load anything.

Redelivery is the one write. With `http.token` set, every route already needs the bearer
token, but a bearer that a proxy adds (the usual way to let a browser in) is as ambient as
a cookie: any page the operator visits could make the browser post to it. So the form also
carries a token derived from a per-process random key and the job (a synchronizer token:
another site cannot read the page that holds it), and a browser's `Sec-Fetch-Site` must say
the request came from this page's own origin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from notifier.core.charts import css_class
from notifier.core.statuses import STATUSES
from notifier.core.timestamps import format_ts
from notifier.status.page import LiveView
from notifier.status.views import ChartMemory, channel_page, job_page, overview
from notifier.store.db import Store
from notifier.store.reports import Reports

REFRESH_SECONDS = 10
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_ASSETS = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


def environment() -> jinja2.Environment:
    """The templates, autoescaped everywhere; a missing variable is an error, not blank."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("notifier.status", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["urlpart"] = lambda value: quote(str(value), safe="")
    env.filters["cls"] = css_class
    env.filters["dash"] = lambda value: "-" if value is None or value == "" else value
    return env


def csrf_token(key: bytes, source: str, job_id: str) -> str:
    """The redeliver form's token for one job: only this process can make it."""
    message = f"redeliver\0{source}\0{job_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _refresh(request: web.Request) -> int:
    """Seconds between in-place refreshes: `?refresh=N` (1 to 3600), else the default."""
    try:
        return max(1, min(3600, int(request.query.get("refresh", REFRESH_SECONDS))))
    except ValueError:
        return REFRESH_SECONDS


class Dashboard:
    """The page handlers over one store; `sources`: source name -> type where a source is
    named; `channels`: the configured channel names (a channel may have no rows yet)."""

    def __init__(
        self,
        store: Store,
        target_keys: Sequence[tuple[str, str]],
        *,
        interval: timedelta,
        clock: Callable[[], datetime],
        live: Callable[[], LiveView],
        token: str | None,
        sources: Mapping[str, str] | None = None,
        channels: Sequence[str] = (),
    ) -> None:
        self.store, self.target_keys, self.interval = store, target_keys, interval
        self.clock, self.live, self.token = clock, live, token
        self.sources = dict(sources or {})
        self.channels = tuple(channels)
        self.kinds = {str(k) for k in STATUSES} | set(self.sources.values())
        self.env = environment()
        self.memory = ChartMemory()
        self.key = secrets.token_bytes(32)  # per process: a restart makes old forms stale
        self.assets = {
            name: resources.files("notifier.status").joinpath("static", name).read_bytes()
            for name in _ASSETS
        }

    def render(
        self, request: web.Request, template: str, status: int = 200, **values: Any
    ) -> web.Response:
        now = self.clock()
        text = self.env.get_template(template).render(
            refresh=_refresh(request), now=now, searched=request.query.get("id", ""), **values
        )
        return web.Response(text=text, status=status, content_type="text/html", headers=_HEADERS)

    async def home(self, request: web.Request) -> web.Response:
        view = overview(
            self.store,
            self.target_keys,
            sources=self.sources,
            channels=self.channels,
            now=self.clock(),
            interval=self.interval,
            live=self.live(),
            memory=self.memory,
        )
        return self.render(request, "overview.html.j2", view=view)

    async def job(self, request: web.Request) -> web.Response:
        source, job_id = request.match_info["source"], request.match_info["job_id"]
        page = job_page(self.store, source, job_id)
        if page is None:
            return self.render(request, "missing.html.j2", 404, what=f"job {job_id} of {source}")
        notice = request.query.get("redelivered", "")
        return self.render(
            request,
            "job.html.j2",
            page=page,
            csrf=csrf_token(self.key, source, job_id) if self.token else None,
            notice=int(notice) if notice.isdigit() else None,
        )

    async def search(self, request: web.Request) -> web.Response:
        """A job id typed in the search box: its page when one source knows it."""
        job_id = request.query.get("id", "").strip()
        if not job_id:
            return self.render(request, "search.html.j2", job_id="", found=[])
        found = Reports(self.store.conn).find_job(job_id, self.kinds)
        if len(found) == 1:
            raise web.HTTPSeeOther(job_path(found[0], job_id))
        status = 200 if found else 404
        return self.render(request, "search.html.j2", status, job_id=job_id, found=found)

    async def channel(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        page = channel_page(self.store, name, self.channels)
        if page is None:
            return self.render(request, "missing.html.j2", 404, what=f"channel {name}")
        return self.render(request, "channel.html.j2", page=page)

    async def redeliver(self, request: web.Request) -> web.Response:
        """Requeue the job's dead and muted deliveries (`Outbox.requeue`, as `notifier
        redeliver` does), then back to the job's page (POST, redirect, GET)."""
        source, job_id = request.match_info["source"], request.match_info["job_id"]
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            raise web.HTTPForbidden(text=f"redeliver: refused a {site} request (CSRF)")
        form = await request.post()
        given = str(form.get("csrf", ""))
        if not hmac.compare_digest(given, csrf_token(self.key, source, job_id)):
            raise web.HTTPForbidden(
                text="redeliver: the form's token is missing or stale; reload the job's page"
            )
        page = job_page(self.store, source, job_id)
        if page is None:
            raise web.HTTPNotFound(text=f"no job {job_id} of {source}")
        now = format_ts(self.clock())
        count = sum(self.store.outbox.requeue(now=now, delivery_id=i) for i in page.redeliverable)
        raise web.HTTPSeeOther(f"{job_path(source, job_id)}?redelivered={count}")

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.assets:
            raise web.HTTPNotFound()
        return web.Response(
            body=self.assets[name],
            content_type=_ASSETS[name],
            headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
        )


def job_path(source: str, job_id: str) -> str:
    return f"/jobs/{quote(source, safe='')}/{quote(job_id, safe='')}"


def add_dashboard_routes(app: web.Application, dashboard: Dashboard) -> None:
    """`/`, `/jobs?id=`, `/jobs/{source}/{job_id}`, `/channels/{name}`, `/assets/{name}`;
    with a token, `POST /jobs/{source}/{job_id}/redeliver`."""
    app.router.add_get("/", dashboard.home)
    app.router.add_get("/jobs", dashboard.search)
    app.router.add_get("/jobs/{source}/{job_id}", dashboard.job)
    app.router.add_get("/channels/{name}", dashboard.channel)
    app.router.add_get("/assets/{name}", dashboard.asset)
    if dashboard.token:  # without a token anyone who reaches the page sees it: read-only then
        app.router.add_post("/jobs/{source}/{job_id}/redeliver", dashboard.redeliver)
