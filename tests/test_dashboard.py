"""The dashboard as people see it: every page rendered in Debian's headless Chromium.

A real store file with transitions and deliveries, the daemon's real HTTP application on
127.0.0.1, and a browser driven over the DevTools protocol (`tests/browser.py`): the DOM is
asserted as Chromium built it, with the page's own script running, and a screenshot of
each page goes to test-artifacts/. Hostile job names, ids and errors must stay text.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web

from notifier.core.models import Event, Route
from notifier.core.samples import sample_event
from notifier.core.timestamps import format_ts
from notifier.status.http import create_app
from notifier.store.db import Store
from tests.browser import Chromium, Tab, chromium_path
from tests.harness import REPO, DaemonProcess, Receiver, Sim, free_port, wait_baseline, write_config

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        chromium_path() is None and not os.environ.get("CI"), reason="chromium not installed"
    ),
]
ARTIFACTS = REPO / "test-artifacts"
TOKEN = "dashboard-token-5521"
HOSTILE_NAME = "<script>window.__pwned = 'name'</script>report.pdf"
HOSTILE_ERROR = "\"><img src=x onerror=\"window.__pwned='error'\"> it's 'quoted' & <b>bold</b>"
HOSTILE_ID = "ext-\"'><svg onload=window.__pwned=1>"
HOSTILE_ANSWER = "HTTP 500: <iframe src=javascript:window.__pwned=2></iframe>"
POLL_ERROR = "HTTP 503 from LlamaCloud: <script>window.__pwned='poll'</script>"
INERT = "window.__pwned === undefined && document.querySelectorAll('img[src=x], iframe').length"


def event(job_id: str, n: int, status: str, at: datetime, **fields: str | None) -> Event:
    before = {"RUNNING": "PENDING", "COMPLETED": "RUNNING", "FAILED": "RUNNING"}.get(status)
    return sample_event(
        id=f"evt_{job_id}_{n}",
        job_id=job_id,
        from_status=before,
        to_status=status,
        detected_at=format_ts(at),
        job_updated_at=format_ts(at - timedelta(seconds=2 + n)),
        job={"id": job_id, "status": status, "name": fields.get("name") or "a.pdf"},
        **fields,  # type: ignore[arg-type]
    )


def populate(store: Store, now: datetime) -> None:
    """Three jobs: one that went well, a hostile one whose delivery died, one retrying;
    a second source whose last poll failed."""
    rows = []
    for n, status in enumerate(["PENDING", "RUNNING", "COMPLETED"]):
        at = now - timedelta(minutes=40 - n * 10)
        rows.append((event("ext-good-1", n, status, at), [Route("all", "hook")]))
    rows.append(
        (
            event(
                HOSTILE_ID,
                0,
                "FAILED",
                now - timedelta(minutes=12),
                name=HOSTILE_NAME,
                error_message=HOSTILE_ERROR,
            ),
            [Route("failures", "hook"), Route("failures", "slack")],
        )
    )
    rows.append(
        (event("ext-retry-1", 0, "FAILED", now - timedelta(minutes=6)), [Route("all", "hook")])
    )
    store.commit_cycle(
        name="extract_v2",
        scope="",
        now=format_ts(now - timedelta(seconds=5)),
        rows=[],
        events=rows,
        watermark=format_ts(now - timedelta(minutes=3)),
        baseline_done=True,
    )
    store.record_poll_failure(name="parse_v2", scope="", now=format_ts(now), error=POLL_ERROR)
    queued = store.outbox.list_deliveries(limit=100)
    by_job = {d.event.job_id + "/" + d.channel: d for d in queued}
    good = [d.id for d in queued if d.event.job_id == "ext-good-1"]
    store.outbox.mark_delivered(good, format_ts(now - timedelta(minutes=1)), status=200)
    for _ in range(3):
        store.outbox.mark_failed(
            by_job[HOSTILE_ID + "/hook"].id, error=HOSTILE_ANSWER, status=500, next_attempt_at=None
        )
    store.outbox.mark_delivered([by_job[HOSTILE_ID + "/slack"].id], format_ts(now), status=200)
    store.outbox.mark_failed(
        by_job["ext-retry-1/hook"].id,
        error="HTTP 502: bad gateway",
        status=502,
        next_attempt_at=format_ts(now + timedelta(minutes=5)),
    )


@dataclass
class Served:
    url: str
    store: Store


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def start(tmp_path: Path, token: str | None) -> tuple[web.AppRunner, Served]:
    store = Store(tmp_path / "notifier.db")
    populate(store, datetime.now(UTC))
    app = create_app(
        store,
        [("extract_v2", ""), ("parse_v2", "")],
        interval=timedelta(seconds=30),
        clock=lambda: datetime.now(UTC),
        token=token,
        channels=["hook", "slack", "email"],
    )
    runner, url = await serve(app)
    return runner, Served(url, store)


@pytest.fixture
async def dashboard(tmp_path: Path) -> AsyncIterator[Served]:
    runner, served = await start(tmp_path, None)
    yield served
    await runner.cleanup()
    served.store.close()


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[Served]:
    runner, served = await start(tmp_path, TOKEN)
    yield served
    await runner.cleanup()
    served.store.close()


@pytest.fixture
async def tab(browser: Chromium) -> AsyncIterator[Tab]:
    page = await browser.tab()
    yield page
    await page.close()


def job_url(base: str, source: str, job_id: str) -> str:
    return f"{base}/jobs/{quote(source, safe='')}/{quote(job_id, safe='')}"


def csp_violations(tab: Tab) -> list[str]:
    return [
        e["params"]["entry"]["text"]
        for e in tab.seen
        if e["method"] == "Log.entryAdded"
        and "Content Security Policy" in e["params"]["entry"]["text"]
    ]


async def test_overview_shows_sources_charts_and_lists(dashboard: Served, tab: Tab) -> None:
    """Source cards in words and colour, four SVG charts with text, hostile text inert."""
    await tab.goto(dashboard.url + "/")
    await tab.screenshot(ARTIFACTS / "dashboard-overview.png")
    assert await tab.js("document.title") == "llamacloud-notifier: not ready"
    cards = await tab.js(
        "[...document.querySelectorAll('article.source')].map(a => ({label: a.dataset.source,"
        " cls: a.className, word: a.querySelector('.state-word').textContent,"
        " text: a.textContent, colour: getComputedStyle(a).borderLeftColor}))"
    )
    assert [c["label"] for c in cards] == ["extract_v2", "parse_v2"]
    extract, parse = cards
    assert extract["word"] == "ok" and "state-ok" in extract["cls"]
    assert "3 min" in extract["text"]  # the watermark's age
    assert parse["word"] == "failing" and "never polled successfully" in parse["text"]
    assert POLL_ERROR in parse["text"]  # as text: the script tag shows, it does not run
    assert extract["colour"] != parse["colour"]  # colour says it too, never colour alone

    charts = await tab.js(
        "[...document.querySelectorAll('figure.chart')].map(f => ({id: f.id,"
        " role: f.querySelector('svg').getAttribute('role'),"
        " title: f.querySelector('svg > title').textContent,"
        " desc: f.querySelector('svg > desc').textContent,"
        " rects: f.querySelectorAll('svg rect').length,"
        " columns: [...f.querySelectorAll('svg path')]"
        "   .map(p => p.getAttribute('d').split('M').length - 1),"
        " lines: f.querySelectorAll('svg polyline').length,"
        " rows: f.querySelectorAll('table tbody tr').length,"
        " width: f.querySelector('svg').getBoundingClientRect().width}))"
    )
    by_id = {c["id"]: c for c in charts}
    assert set(by_id) == {"chart-transitions", "chart-delay", "chart-deliveries", "chart-outbox"}
    for chart in charts:
        assert chart["role"] == "img" and chart["title"] and chart["width"] > 300
    assert by_id["chart-transitions"]["desc"].startswith("5 transitions (")
    # Five 5-minute buckets with one transition each: five rectangles, one path per phase.
    assert sorted(by_id["chart-transitions"]["columns"]) == [1, 1, 1, 2]
    assert "p95" in by_id["chart-delay"]["desc"] and by_id["chart-delay"]["lines"] >= 2
    assert by_id["chart-deliveries"]["desc"].startswith("hook: delivered 3, pending 1, dead 1")
    assert by_id["chart-outbox"]["lines"] >= 1

    dead = await tab.js("document.querySelector('#dead tbody').textContent")
    assert HOSTILE_ANSWER in dead and HOSTILE_ID in dead
    transitions = await tab.js("document.querySelector('#transitions tbody').textContent")
    assert HOSTILE_NAME in transitions and HOSTILE_ERROR in transitions
    assert await tab.js(INERT) == 0
    assert await tab.js("document.querySelectorAll('script').length") == 1  # our own
    assert csp_violations(tab) == []


async def test_job_page_timeline_deliveries_and_raw_json(dashboard: Served, tab: Tab) -> None:
    """Every transition with its time, deliveries per channel, the raw job as text."""
    await tab.goto(job_url(dashboard.url, "extract_v2", "ext-good-1"))
    await tab.screenshot(ARTIFACTS / "dashboard-job.png")
    steps = await tab.js(
        "[...document.querySelectorAll('#timeline li')].map(li =>"
        " [li.querySelector('time').getAttribute('datetime'),"
        "  li.querySelector('.transition').textContent])"
    )
    assert [s[1] for s in steps] == ["new → PENDING", "PENDING → RUNNING", "RUNNING → COMPLETED"]
    assert all(s[0].endswith("Z") for s in steps) and sorted(s[0] for s in steps) == [
        s[0] for s in steps
    ]
    rows = await tab.js(
        "[...document.querySelectorAll('table.job-deliveries tbody tr')].map(r =>"
        " [...r.cells].map(c => c.textContent))"
    )
    assert [(r[2], r[3], r[4], r[5]) for r in rows] == [
        ("PENDING", "delivered", "1", "200"),
        ("RUNNING", "delivered", "1", "200"),
        ("COMPLETED", "delivered", "1", "200"),
    ]
    raw = json.loads(await tab.js("document.querySelector('#raw-json').textContent"))
    assert raw == {"id": "ext-good-1", "status": "COMPLETED", "name": "a.pdf"}
    assert await tab.js("document.querySelector('#redeliver')") is None  # no token: read-only

    await tab.goto(job_url(dashboard.url, "extract_v2", HOSTILE_ID))
    await tab.screenshot(ARTIFACTS / "dashboard-job-hostile.png")
    assert await tab.js("document.querySelector('.job-id').textContent") == HOSTILE_ID
    assert await tab.js("document.querySelector('#job-name').textContent") == HOSTILE_NAME
    assert await tab.js("document.querySelector('#timeline .error').textContent") == HOSTILE_ERROR
    channels = await tab.js(
        "[...document.querySelectorAll('table.job-deliveries')].map(t => [t.dataset.channel,"
        " t.querySelector('td.state').textContent, t.querySelector('td.error').textContent,"
        " t.querySelectorAll('td')[4].textContent])"
    )
    assert channels == [["hook", "dead", HOSTILE_ANSWER, "3"], ["slack", "delivered", "-", "1"]]
    raw = json.loads(await tab.js("document.querySelector('#raw-json').textContent"))
    assert raw["name"] == HOSTILE_NAME and raw["id"] == HOSTILE_ID
    assert await tab.js(INERT) == 0
    assert csp_violations(tab) == []


async def test_search_box_finds_a_job(dashboard: Served, tab: Tab) -> None:
    """The id typed in the box leads to the job's page; an unknown one says so (404)."""
    await tab.goto(dashboard.url + "/")
    await tab.js(f"document.querySelector('#job-search').value = {json.dumps(HOSTILE_ID)}")
    await tab.submit("form.search")
    path = await tab.js("decodeURIComponent(location.pathname)")
    assert path == f"/jobs/extract_v2/{HOSTILE_ID}"
    assert await tab.js("document.querySelector('.job-id').textContent") == HOSTILE_ID

    await tab.js("document.querySelector('#job-search').value = 'ext-nobody-<b>x</b>'")
    await tab.submit("form.search")
    await tab.screenshot(ARTIFACTS / "dashboard-search-miss.png")
    result = await tab.js("document.querySelector('#search-result').textContent")
    assert result == "No job with the id ext-nobody-<b>x</b> is in the store."
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{dashboard.url}/jobs?id=ext-nobody") as answer:
            assert answer.status == 404
        async with session.get(job_url(dashboard.url, "parse_v2", "ext-good-1")) as answer:
            assert answer.status == 404 and "knows nothing of job ext-good-1" in await answer.text()


async def test_channel_page_lists_recent_failures(dashboard: Served, tab: Tab) -> None:
    """Counts by state and the failing rows (dead and retrying), newest first, linked."""
    await tab.goto(dashboard.url + "/")
    links = await tab.js("[...document.querySelectorAll('#channels a')].map(a => a.textContent)")
    assert links == ["email", "hook", "slack"]  # configured ones too, even with no rows yet
    await tab.js("document.querySelector('#channels a[href=\"/channels/hook\"]').click()")
    await tab.wait_event("Page.loadEventFired")
    assert await tab.js("location.pathname") == "/channels/hook"
    await tab.screenshot(ARTIFACTS / "dashboard-channel.png")
    counts = await tab.js("document.querySelector('#channel-counts').textContent")
    assert "dead: 1" in counts and "delivered: 3" in counts and "pending: 1" in counts
    rows = await tab.js(
        "[...document.querySelectorAll('#failures tbody tr')].map(r =>"
        " [r.cells[2].textContent, r.cells[4].textContent, r.cells[8].textContent])"
    )
    assert rows == [
        ["ext-retry-1", "pending", "HTTP 502: bad gateway"],
        [HOSTILE_ID, "dead", HOSTILE_ANSWER],
    ]
    assert await tab.js(INERT) == 0
    await tab.goto(dashboard.url + "/channels/email")  # configured, nothing sent yet
    assert "No deliveries yet." in await tab.js("document.body.textContent")
    await tab.goto(dashboard.url + "/channels/nope")
    assert "knows nothing of channel nope" in await tab.js("document.body.textContent")


async def test_page_refreshes_in_place(dashboard: Served, tab: Tab) -> None:
    """A new transition shows up without a reload: the page's own script swaps the data."""
    await tab.goto(dashboard.url + "/?refresh=1")
    await tab.js("window.__kept = 'same document'")
    fresh = event("ext-new-1", 0, "RUNNING", datetime.now(UTC))
    dashboard.store.commit_cycle(
        name="extract_v2",
        scope="",
        now=format_ts(datetime.now(UTC)),
        rows=[],
        events=[(fresh, [])],
        watermark=None,
        baseline_done=True,
    )
    await tab.until("document.querySelector('#transitions').textContent.includes('ext-new-1')")
    assert await tab.js("window.__kept") == "same document"
    assert await tab.js("document.body.dataset.refreshed") is not None


async def test_redeliver_is_a_csrf_safe_post(guarded: Served, browser: Chromium) -> None:
    """With http.token: the button requeues the dead row; a post from another origin, or
    without the page's form token, is refused even when the bearer rides along."""
    page = await browser.tab()
    try:
        await page.headers({"Authorization": f"Bearer {TOKEN}"})  # what a proxy in front adds
        url = job_url(guarded.url, "extract_v2", HOSTILE_ID)
        await page.goto(url)
        button = await page.js("document.querySelector('#redeliver').textContent")
        assert button == "Redeliver 1 dead or muted delivery"
        await page.screenshot(ARTIFACTS / "dashboard-job-redeliver.png")
        await page.submit("#redeliver-form")
        assert await page.js("document.querySelector('#notice').textContent") == (
            "Requeued 1 delivery."
        )
        states = await page.js("[...document.querySelectorAll('td.state')].map(c => c.textContent)")
        assert states == ["pending", "delivered"]
        dead = guarded.store.outbox.list_deliveries(state="dead")
        assert dead == []

        # Dead again, then a forged post from another origin that the bearer header rides on.
        row = guarded.store.outbox.list_deliveries(state="pending", channel="hook")
        target = next(d for d in row if d.event.job_id == HOSTILE_ID)
        guarded.store.outbox.mark_failed(target.id, error="x", status=500, next_attempt_at=None)
        evil = web.Application()

        async def attack(_: web.Request) -> web.Response:
            form = (
                f'<form id="f" method="post" action="{url}/redeliver">'
                '<input name="csrf" value="guessed"></form>'
                "<script>document.getElementById('f').submit()</script>"
            )
            return web.Response(text=form, content_type="text/html")

        evil.router.add_get("/", attack)
        runner, evil_url = await serve(evil)
        try:
            await page.goto(evil_url + "/")  # its form posts itself at once
            refused = "document.body && document.body.textContent.includes('refused a same-site')"
            assert await page.until(refused)
        finally:
            await runner.cleanup()
        assert [d.id for d in guarded.store.outbox.list_deliveries(state="dead")] == [target.id]
    finally:
        await page.close()

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        post = session.post
        async with post(f"{url}/redeliver", data={"csrf": "0" * 64}, headers=headers) as answer:
            assert answer.status == 403 and "stale" in await answer.text()
        async with post(f"{url}/redeliver", data={"csrf": "0" * 64}) as answer:
            assert answer.status == 401  # the bearer token still guards everything
    assert [d.id for d in guarded.store.outbox.list_deliveries(state="dead")] == [target.id]


async def test_without_a_token_nothing_can_be_posted(dashboard: Served) -> None:
    """An open page is read-only: no redeliver route at all."""
    url = job_url(dashboard.url, "extract_v2", HOSTILE_ID)
    async with aiohttp.ClientSession() as session, session.post(f"{url}/redeliver") as answer:
        assert answer.status in (404, 405)
    assert len(dashboard.store.outbox.list_deliveries(state="dead")) == 1


async def test_pages_forbid_foreign_scripts_and_assets(dashboard: Served) -> None:
    """A Content-Security-Policy allows only the page's own CSS and script."""
    async with aiohttp.ClientSession() as session:
        for path in ("/", "/channels/hook", job_url("", "extract_v2", "ext-good-1"), "/jobs"):
            async with session.get(dashboard.url + path) as answer:
                policy = answer.headers["Content-Security-Policy"]
                assert "default-src 'none'" in policy and "script-src 'self'" in policy
                assert answer.headers["X-Content-Type-Options"] == "nosniff"
        async with session.get(dashboard.url + "/assets/dashboard.js") as answer:
            assert answer.status == 200 and "DOMParser" in await answer.text()
        async with session.get(dashboard.url + "/assets/..%2fpage.py") as answer:
            assert answer.status == 404


async def test_a_running_daemon_redelivers_from_its_job_page(
    sim: Sim, receiver: Receiver, tmp_path: Path, browser: Chromium
) -> None:
    """The daemon process with http.token: a dead delivery found from the overview, requeued
    with the job page's button, then delivered to the receiver."""
    port = free_port()
    receiver.fail_next = 10_000  # every attempt fails: the row dies
    config = write_config(
        tmp_path / "config.yaml",
        sim.url,
        receiver.url,
        http={"enabled": True, "listen": f"127.0.0.1:{port}", "token": TOKEN},
        channels={
            "hook": {
                "type": "webhook",
                "url": receiver.url,
                "secret": receiver.secret,
                "max_attempts": 1,
            }
        },
    )
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    page = await browser.tab()
    try:
        await wait_baseline(tmp_path / "notifier.db")
        job = await sim.create("parse_v2", name=HOSTILE_NAME)
        await page.headers({"Authorization": f"Bearer {TOKEN}"})
        await page.goto(f"http://127.0.0.1:{port}/?refresh=1")
        link = f"#dead a.job[href='/jobs/parse_v2/{job}']"
        await page.until(f"document.querySelector({json.dumps(link)}) !== null")
        await page.screenshot(ARTIFACTS / "dashboard-daemon.png")
        assert await page.js("document.title") == "llamacloud-notifier: ready"
        await page.js(f"document.querySelector({json.dumps(link)}).click()")
        await page.wait_event("Page.loadEventFired")
        assert await page.js("document.querySelector('#job-name').textContent") == HOSTILE_NAME
        receiver.fail_next = 0
        await page.submit("#redeliver-form")
        notice = await page.js("document.querySelector('#notice').textContent")
        assert notice.startswith("Requeued ") and not notice.startswith("Requeued 0")
        await receiver.wait_for(lambda: len(receiver.transitions(job)) >= 1)
        assert await page.js(INERT) == 0
    finally:
        await page.close()
        assert await daemon.terminate() == 0
    assert TOKEN not in daemon.log_text()
