"""Hostile LlamaCloud answers (issue 14), served by a loopback aiohttp server.

One bad item costs that item only: a lone surrogate or an invalid UTF-8 byte in an id or a
status skips the item by name; anywhere else it is stored replaced by U+FFFD. Every cycle
failure, commit-time ones included, is the scope's `last_error`. A listing that never ends
and a page past the size limit fail their cycle, and the watermark stays.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from notifier.channels.webhook import WebhookChannel
from notifier.core.render import payload_bytes
from notifier.core.rules import Rule, When
from notifier.llamacloud.client import ApiError, LlamaCloudClient
from notifier.llamacloud.parsing import MalformedResponse, parse_items
from notifier.llamacloud.sources import list_v2, max_pages_for
from notifier.polling.poller import Poller, PollOptions, PollTarget
from notifier.store.db import Store
from tests.harness import WEBHOOK_SECRET, Receiver, serve

TARGET = PollTarget(name="extract_v2", source="extract_v2", scope="")
CREATED = "2026-11-23T10:00:00Z"


def item(job_id: str, status: str = "PENDING", **extra: str) -> str:
    """One item as JSON text, `created_at` set; values are spliced in raw (escapes kept)."""
    fields = {"id": job_id, "status": status, "created_at": CREATED, **extra}
    return "{" + ",".join(f'"{k}":"{v}"' for k, v in fields.items()) + "}"


def page(*items: str, token: str | None = None) -> bytes:
    next_token = "null" if token is None else f'"{token}"'
    return ('{"items":[' + ",".join(items) + f'],"next_page_token":{next_token}}}').encode()


@dataclass
class Hostile:
    """A LlamaCloud stand-in answering every GET with `answer(request)`; counts requests."""

    answer: Callable[[web.Request], bytes]
    url: str = ""
    requests: int = 0
    _runner: web.AppRunner | None = field(default=None, repr=False)

    async def start(self) -> Hostile:
        async def handle(request: web.Request) -> web.Response:
            self.requests += 1
            return web.Response(body=self.answer(request), content_type="application/json")

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class _Log:
    """A `parsing.Logger` that structlog's capture_logs sees."""

    def warning(self, event: str, **kw: Any) -> None:
        structlog.get_logger().warning(event, **kw)


log = _Log()


async def _no_wait(_: float) -> None:
    return None


def _poller(client: LlamaCloudClient, store: Store) -> Poller:
    return Poller(
        client,
        store,
        [Rule("all", When(), ("hook",))],
        PollOptions(initial_sync="notify"),
        clock=lambda: datetime.now(UTC),
    )


async def _cycle(poller: Poller) -> tuple[Any, list[MutableMapping[str, Any]]]:
    with capture_logs() as logs:
        try:
            return await poller.poll(TARGET), logs
        except Exception as exc:  # the test looks at what it was
            return exc, logs


@pytest.fixture
async def hostile() -> AsyncIterator[Callable[[Callable[[web.Request], bytes]], Any]]:
    servers: list[Hostile] = []

    async def start(answer: Callable[[web.Request], bytes]) -> Hostile:
        server = await Hostile(answer).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


def _skipped(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == "skipped_item"]


async def test_a_lone_surrogate_costs_only_its_item(
    hostile: Callable[..., Any], tmp_path: Path, receiver: Receiver
) -> None:
    """JSON `\\ud800` in an id skips that item by name; in a name, an error message or a key
    of the raw job it is stored as U+FFFD; the rest of the page counts, the watermark moves,
    and the next cycle announces the next new job (before: every cycle failed for good)."""
    answers = [
        page(
            item("ext-bad-\\ud800"),
            item("ext-odd", "FAILED", error_message="disk \\udfff full", name="f\\ud83d.pdf"),
            '{"id":"ext-key","status":"PENDING","created_at":"' + CREATED + '","x\\udc00":1}',
            item("ext-good", "COMPLETED"),
        ),
    ]
    server = await hostile(lambda _: answers[-1])
    store = Store(tmp_path / "n.db")
    async with LlamaCloudClient(server.url, "k", max_retries=0, sleep=_no_wait) as client:
        poller = _poller(client, store)
        outcome, logs = await _cycle(poller)
        assert not isinstance(outcome, Exception), outcome
        rows = store.load_rows("extract_v2", ["ext-odd", "ext-key", "ext-good"])
        assert set(rows) == {"ext-odd", "ext-key", "ext-good"}
        (skipped,) = _skipped(logs)
        assert skipped["source"] == "extract_v2" and "ext-bad-" in skipped["item_id"]
        json.dumps(skipped, ensure_ascii=False).encode()  # the warning itself is writable
        state = store.source_state("extract_v2", "")
        assert state.last_error is None and state.watermark is not None
        (odd,) = store.list_events(job_id="ext-odd")
        assert odd.error_message == "disk \ufffd full" and odd.name == "f\ufffd.pdf"
        (keyed,) = store.list_events(job_id="ext-key")
        assert "x\ufffd" in keyed.job
        # What the store holds, a target receives: signed and verified.
        payload_bytes(odd, "all")
        channel = WebhookChannel("hook", receiver.url, secret=WEBHOOK_SECRET)
        try:
            assert await channel.send(odd, "all") == 204
        finally:
            await channel.close()
        assert receiver.received[-1].payload["data"]["error_message"] == "disk \ufffd full"

        answers.append(page(item("ext-bad-\\ud800"), item("ext-next", "RUNNING")))
        outcome, _ = await _cycle(poller)
        assert not isinstance(outcome, Exception), outcome
        assert [e.to_status for e in store.list_events(job_id="ext-next")] == ["RUNNING"]
    store.close()


async def test_an_invalid_utf8_byte_costs_only_its_item(
    hostile: Callable[..., Any], tmp_path: Path
) -> None:
    """A raw 0xFF byte (or an encoded surrogate, ED A0 80) inside one string value no longer
    makes the page unreadable: an id holding one skips its item, elsewhere U+FFFD."""
    body = (
        b'{"items":['
        b'{"id":"ext-bad-\xff","status":"PENDING","created_at":"' + CREATED.encode() + b'"},'
        b'{"id":"ext-odd","status":"FAILED","created_at":"' + CREATED.encode() + b'",'
        b'"error_message":"bad \xfe\x80 byte","name":"s\xed\xa0\x80.pdf"},'
        b'{"id":"ext-good","status":"COMPLETED","created_at":"' + CREATED.encode() + b'"}'
        b'],"next_page_token":null}'
    )
    server = await hostile(lambda _: body)
    store = Store(tmp_path / "n.db")
    async with LlamaCloudClient(server.url, "k", max_retries=0, sleep=_no_wait) as client:
        outcome, logs = await _cycle(_poller(client, store))
    assert not isinstance(outcome, Exception), outcome
    assert set(store.load_rows("extract_v2", ["ext-odd", "ext-good"])) == {"ext-odd", "ext-good"}
    (skipped,) = _skipped(logs)
    assert skipped["source"] == "extract_v2" and skipped["item_id"].startswith("ext-bad-")
    (odd,) = store.list_events(job_id="ext-odd")
    assert odd.error_message == "bad \ufffd\ufffd byte" and odd.name == "s\ufffd\ufffd\ufffd.pdf"
    assert store.source_state("extract_v2", "").last_error is None
    store.close()


async def test_numbers_strict_json_refuses_cost_nothing(
    hostile: Callable[..., Any], tmp_path: Path
) -> None:
    """An integer past Python's 4,300-digit limit made the whole page unreadable; `1e400` and
    `NaN` became `Infinity`/`NaN` in every payload, which strict JSON readers refuse. Now the
    long integer is kept as text and the non-finite numbers become null."""
    huge = "9" * 5000
    body = page(
        '{"id":"ext-num","status":"PENDING","created_at":"'
        + CREATED
        + f'","size":{huge},"ratio":1e400,"score":NaN}}',
        item("ext-good"),
    )
    server = await hostile(lambda _: body)
    store = Store(tmp_path / "n.db")
    async with LlamaCloudClient(server.url, "k", max_retries=0, sleep=_no_wait) as client:
        outcome, _ = await _cycle(_poller(client, store))
    assert not isinstance(outcome, Exception), outcome
    (event,) = store.list_events(job_id="ext-num")
    assert event.job["size"] == huge and event.job["ratio"] is None and event.job["score"] is None
    json.loads(payload_bytes(event, "all"), parse_constant=pytest.fail)
    store.close()


lone = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udcff", "\udfff"])
any_text = st.text(st.characters() | lone, max_size=12)  # lone surrogates often
any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"id": any_text, "status": any_text},
            optional={"name": any_text, "error_message": any_text, "file": any_json},
        ),
        max_size=5,
    )
)
def test_whatever_text_an_item_holds_its_job_can_be_written(items: list[dict[str, Any]]) -> None:
    """Generated items with lone surrogates anywhere: every job parsed encodes as strict UTF-8
    JSON (what the store and every payload write); every item not parsed is named."""
    with capture_logs() as logs:
        jobs = parse_items("extract_v2", items, log=log)
    for job in jobs:
        json.dumps(
            [job.job_id, job.status, job.name, job.error_message, job.raw],
            ensure_ascii=False,
            allow_nan=False,
        ).encode("utf-8")
    assert len(jobs) + len(_skipped(logs)) == len(items)


async def test_a_failure_at_commit_time_is_the_scopes_last_error(
    hostile: Callable[..., Any], tmp_path: Path
) -> None:
    """SQLite refusing the cycle's write (a trigger raising, as a damaged or foreign file
    might) fails the cycle, shown as `last_error`; the watermark stays."""
    server = await hostile(lambda _: page(item("ext-1")))
    path = tmp_path / "n.db"
    store = Store(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON events "
            "BEGIN SELECT RAISE(ABORT, 'refused by the file'); END"
        )
    async with LlamaCloudClient(server.url, "k", max_retries=0, sleep=_no_wait) as client:
        outcome, _ = await _cycle(_poller(client, store))
    assert isinstance(outcome, sqlite3.IntegrityError), outcome
    state = store.source_state("extract_v2", "")
    assert state.last_error is not None and "refused by the file" in state.last_error
    assert state.watermark is None and store.load_rows("extract_v2", ["ext-1"]) == {}
    store.close()


def _endless(request: web.Request) -> bytes:
    """Every page names a next one, never the same token twice."""
    number = int(request.query.get("page_token", "0"))
    return page(item(f"ext-{number}"), token=str(number + 1))


async def test_an_endless_listing_fails_its_cycle(
    hostile: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing still paging at the cap is an error naming the source and the page count,
    logged; the cycle fails and the watermark does not move (before: cut silently at 100,000
    pages and committed as complete)."""
    server = await hostile(_endless)
    async with LlamaCloudClient(
        server.url, "k", max_retries=0, sleep=_no_wait, max_requests_per_second=1000
    ) as client:
        with capture_logs() as logs, pytest.raises(MalformedResponse, match="after 30 pages"):
            async for _ in list_v2(client, "extract_v2", project_id=None, max_pages=30, log=log):
                pass
        assert server.requests == 30
        (cut,) = [e for e in logs if e["event"] == "listing_cut"]
        assert cut["source"] == "extract_v2" and cut["pages"] == 30

        # The poller's listings, at the cap it sizes from its lookback window (made small
        # here): the cycle fails.
        store = Store(tmp_path / "n.db")
        poller = _poller(client, store)
        assert poller.max_pages == max_pages_for(poller.options.lookback, 100)
        poller.max_pages = 40
        outcome, _ = await _cycle(poller)
        assert isinstance(outcome, MalformedResponse), outcome
        state = store.source_state("extract_v2", "")
        assert state.watermark is None and "40 pages" in (state.last_error or "")
        store.close()


def test_the_page_cap_follows_the_lookback_window() -> None:
    day = max_pages_for(timedelta(days=1), 100)
    assert max_pages_for(timedelta(days=3), 100) == 3 * day
    assert max_pages_for(timedelta(days=1), 50) == 2 * day
    assert max_pages_for(timedelta(minutes=1), 100) >= 100  # a floor for short windows


@dataclass
class Flood:
    """A loopback server answering every GET with `size` bytes, streamed; counts what it sent."""

    status: int
    size: int
    declared: bool = False
    sent: int = 0
    url: str = ""
    _runner: web.AppRunner | None = field(default=None, repr=False)

    async def start(self) -> Flood:
        async def handle(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(
                status=self.status, headers={"Content-Type": "application/json"}
            )
            if self.declared:
                response.content_length = self.size
            await response.prepare(request)
            chunk = b'{"items":[' + b" " * (65536 - 10)
            try:
                while self.sent < self.size:
                    await response.write(chunk)
                    self.sent += len(chunk)
            except (ConnectionError, RuntimeError):
                pass  # the client hung up: what it wanted, and all it read
            return response

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
async def test_a_page_past_the_size_limit_fails_its_cycle(declared: bool) -> None:
    """A 200 answer of 100 MB is read up to `max_page_bytes` (here 4 MiB) and no further: an
    ApiError naming the path and the limit, not asked again, not an out-of-memory kill."""
    flood = await Flood(200, 100 * 1024 * 1024, declared=declared).start()
    try:
        async with LlamaCloudClient(
            flood.url, "k", max_retries=3, sleep=_no_wait, max_page_bytes=4 * 1024 * 1024
        ) as client:
            with pytest.raises(ApiError, match=r"/api/v2/extract.*4194304 bytes") as caught:
                await client.get_json("/api/v2/extract")
            assert client.requests_sent == 1 and caught.value.retryable is False
        await asyncio.sleep(0.2)
        assert flood.sent < 32 * 1024 * 1024, flood.sent
    finally:
        await flood.stop()


async def test_a_compressed_page_is_limited_by_its_decompressed_size() -> None:
    """40 KB of gzip that inflates to 40 MB stops at the limit, decompressed."""
    bomb = gzip.compress(b'{"items":[' + b" " * (40 * 1024 * 1024), compresslevel=6)

    async def handle(_: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner, url = await serve(app)
    try:
        async with LlamaCloudClient(
            url, "k", max_retries=0, sleep=_no_wait, max_page_bytes=1024 * 1024
        ) as client:
            with pytest.raises(ApiError, match="larger than 1048576 bytes"):
                await client.get_json("/api/v2/extract")
    finally:
        await runner.cleanup()


async def test_error_answers_are_read_only_in_part() -> None:
    """A 400 whose body is 200 MB: its first bytes serve the message; the rest is not read."""
    flood = await Flood(400, 200 * 1024 * 1024).start()
    try:
        async with LlamaCloudClient(flood.url, "k", max_retries=0, sleep=_no_wait) as client:
            with pytest.raises(ApiError, match="HTTP 400"):
                await client.get_json("/api/v2/extract")
        await asyncio.sleep(0.2)
        assert flood.sent < 32 * 1024 * 1024, flood.sent
    finally:
        await flood.stop()
