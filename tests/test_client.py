"""llamacloud.client and sources: against a real loopback server that misbehaves on cue."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from llama_cloud import AsyncLlamaCloud, DefaultAsyncHttpxClient
from structlog.testing import capture_logs

from notifier.core.retry import Backoff
from notifier.core.statuses import SourceType
from notifier.llamacloud.client import ApiError, LlamaCloudClient
from notifier.llamacloud.parsing import MalformedResponse
from notifier.llamacloud.sources import (
    MAX_QUERY_BYTES,
    JobIdsEncoding,
    id_batches,
    iter_v2_by_ids,
    list_v1,
    list_v2,
)
from notifier.ratelimit import RateLimiter
from notifier.simulator import start_simulator
from tests.harness import serve

KEY = "llx-client-test-key-777"
Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Api:
    """A scripted server: each request takes the next answer; afterwards a default one."""

    def __init__(self) -> None:
        self.script: list[Answer] = []
        self.default: Answer = self.ok
        self.seen: list[web.Request] = []
        self.queries: list[list[tuple[str, str]]] = []
        self.url = ""

    @staticmethod
    async def ok(_: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"items": [{"id": "ext-1", "status": "RUNNING"}], "next_page_token": None}
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request)
        self.queries.append(parse_qsl(request.query_string))
        answer = self.script.pop(0) if self.script else self.default
        return await answer(request)


def status(code: int, headers: dict[str, str] | None = None, body: object = None) -> Answer:
    async def answer(_: web.Request) -> web.StreamResponse:
        return web.json_response(
            body if body is not None else {"detail": "nope"}, status=code, headers=headers
        )

    return answer


def raw(text: str) -> Answer:
    async def answer(_: web.Request) -> web.StreamResponse:
        return web.Response(text=text, content_type="application/json")

    return answer


def slow(seconds: float) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await Api.ok(request)

    return answer


async def by_ids(c: LlamaCloudClient, ids: list[str], encoding: JobIdsEncoding) -> list[str]:
    """The ids of every job a `job_ids` refresh of an extract_v2 source returned."""
    return [
        job.job_id
        async for page in iter_v2_by_ids(c, "extract_v2", ids, project_id=None, encoding=encoding)
        for job in page
    ]


def ids_server(*, comma: bool, last: bool = False) -> Answer:
    """A listing that filters by `job_ids` one way only: repeated keys, or one value split on
    commas (of a repeated key it reads the first value, or the `last` as Starlette does)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        if comma:
            values = request.query.getall("job_ids", [""])
            ids = values[-1 if last else 0].split(",")
        else:
            ids = request.query.getall("job_ids", [])
        items = [{"id": i, "status": "RUNNING"} for i in ids if i in {"a", "b", "c"}]
        return web.json_response({"items": items, "next_page_token": None})

    return answer


async def drop(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    return web.Response()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    state = Api()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", state.handle)
    runner, state.url = await serve(app)
    yield state
    await runner.cleanup()


def client(api: Api, waits: list[float] | None = None, **kw: object) -> LlamaCloudClient:
    async def record(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)

    options: dict[str, object] = {
        "max_requests_per_second": 1000,
        "rng": random.Random(0),
        "sleep": record,
    }
    options.update(kw)
    return LlamaCloudClient(api.url, KEY, **options)  # type: ignore[arg-type]


class TestRequests:
    async def test_bearer_and_repeated_params(self, api: Api) -> None:
        """The key travels only in the Authorization header; params go as given."""
        async with client(api, organization_id="org-1") as c:
            await c.get_json("/api/v2/extract", [("job_ids", "a"), ("job_ids", "b")])
        request = api.seen[0]
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        assert request.headers["User-Agent"].startswith("llamacloud-notifier/")
        assert api.queries[0] == [("job_ids", "a"), ("job_ids", "b")]

    async def test_on_response_per_attempt(self, api: Api) -> None:
        """Metrics see every attempt, failed ones included."""
        calls: list[tuple[str, int | None]] = []
        api.script = [status(500)]
        async with client(api, [], on_response=lambda p, s, _t: calls.append((p, s))) as c:
            await c.get_json("/api/v2/parse")
        assert calls == [("/api/v2/parse", 500), ("/api/v2/parse", 200)]
        assert c.requests_sent == 2 and c.errors == 1


class TestRetries:
    async def test_5xx_then_success(self, api: Api) -> None:
        """Server errors are retried with growing, jittered waits."""
        waits: list[float] = []
        api.script = [status(500), status(502), status(503)]
        with capture_logs() as logged:
            async with client(api, waits, backoff=Backoff(base=0.5, cap=30)) as c:
                body = await c.get_json("/api/v2/extract")
        assert body["items"][0]["id"] == "ext-1"
        assert len(waits) == 3 and all(0.25 * 2**i <= w <= 0.5 * 2**i for i, w in enumerate(waits))
        assert [e["event"] for e in logged] == ["llamacloud_retry"] * 3

    async def test_retry_after_is_honoured(self, api: Api) -> None:
        """A 429's Retry-After is the wait."""
        waits: list[float] = []
        api.script = [status(429, {"Retry-After": "7"})]
        async with client(api, waits) as c:
            await c.get_json("/api/v2/extract")
        assert waits == [7.0]

    async def test_timeouts_broken_json_and_dropped_connections_are_retried(self, api: Api) -> None:
        """Each transient failure costs one retry, then the answer arrives."""
        waits: list[float] = []
        api.script = [slow(1.0), raw('{"items": [{"id": "ext-1", "sta'), drop]
        async with client(api, waits, timeout=0.3) as c:
            body = await c.get_json("/api/v2/extract")
        assert body["items"][0]["status"] == "RUNNING"
        # aiohttp itself retries a dropped keep-alive connection once, so 2 or 3 waits here.
        assert len(api.seen) == 4 and len(waits) in (2, 3)

    async def test_gives_up_after_max_retries(self, api: Api) -> None:
        """Persisting 5xx ends in a retryable ApiError after max_retries retries."""
        api.default = status(500)
        async with client(api, [], max_retries=2) as c:
            with pytest.raises(ApiError) as caught:
                await c.get_json("/api/v2/extract")
        assert caught.value.retryable and caught.value.status == 500 and len(api.seen) == 3

    async def test_client_errors_are_final_and_readable(self, api: Api) -> None:
        """422 carries the API's detail; 404 is not retried."""
        detail = {
            "detail": [
                {"loc": ["query", "page_size"], "msg": "Input should be less than 101", "type": "x"}
            ]
        }
        api.script = [status(422, body=detail), status(404)]
        async with client(api, []) as c:
            with pytest.raises(
                ApiError, match=r"HTTP 422: query.page_size: Input should be less than 101"
            ):
                await c.get_json("/api/v2/extract")
            with pytest.raises(ApiError, match="HTTP 404"):
                await c.get_json("/api/v2/extract/x")
        assert len(api.seen) == 2

    async def test_rejected_key_is_named_but_never_shown(self, api: Api) -> None:
        """401 explains itself without the key."""
        api.script = [status(401)]
        async with client(api, []) as c:
            with pytest.raises(ApiError) as caught:
                await c.get_json("/api/v2/extract")
        assert "API key was rejected" in str(caught.value) and KEY not in str(caught.value)


async def test_rate_limiter_spaces_requests() -> None:
    """At 20 requests per second, 5 requests take at least 0.2 s."""
    limiter = RateLimiter(20)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*(limiter.wait() for _ in range(5)))
    assert 0.19 <= loop.time() - start < 1.0


class TestSources:
    async def test_pages_follow_tokens(self, api: Api) -> None:
        """list_v2 yields each page and stops when no token comes back."""
        pages = [
            {"items": [{"id": "a", "status": "PENDING"}], "next_page_token": "t1"},
            {"items": [{"id": "b", "status": "PENDING"}], "next_page_token": "t2"},
            {"items": [{"id": "c", "status": "PENDING"}]},
        ]
        api.script = [status(200, body=p) for p in pages]
        async with client(api, organization_id="org-1") as c:
            got = [
                page
                async for page in list_v2(
                    c,
                    "extract_v2",
                    project_id="prj",
                    status="PENDING",
                    created_at_on_or_after="2026-01-01T00:00:00Z",
                )
            ]
        assert [[j.job_id for j in page] for page in got] == [["a"], ["b"], ["c"]]
        assert ("page_token", "t1") in api.queries[1] and ("page_token", "t2") in api.queries[2]
        assert ("project_id", "prj") in api.queries[0] and ("status", "PENDING") in api.queries[0]
        assert all(("organization_id", "org-1") in q for q in api.queries)

    async def test_repeated_token_stops_the_loop(self, api: Api) -> None:
        """A server that hands out the same token forever cannot trap the poller."""
        api.default = status(200, body={"items": [], "next_page_token": "same"})
        async with client(api) as c:
            with pytest.raises(MalformedResponse):
                async for _ in list_v2(c, "parse_v2", project_id=None):
                    pass
        assert len(api.seen) == 2

    async def test_job_ids_in_batches_under_the_url_limit(self, api: Api) -> None:
        """250 ids cost 3 requests of at most 100 ids; long ids shrink the batch."""
        ids = [f"ext-{i:036d}" for i in range(250)]
        async with client(api) as c:
            repeated = JobIdsEncoding(repeated={"extract_v2": True})
            async for _ in iter_v2_by_ids(c, "extract_v2", ids, project_id=None, encoding=repeated):
                pass
        assert [sum(1 for k, _ in q if k == "job_ids") for q in api.queries] == [100, 100, 50]
        long_ids = ["x" * 400 for _ in range(100)]
        assert all(
            sum(len(i) + 9 for i in batch) <= MAX_QUERY_BYTES for batch in id_batches(long_ids, 100)
        )
        assert len(id_batches(long_ids, 100)) > 1

    async def test_job_ids_repeated_first_as_the_sdk_sends_them(self, api: Api) -> None:
        """A server that reads an array of repeated keys (as the SDK sends): learned at once."""
        api.default = ids_server(comma=False)
        encoding = JobIdsEncoding()
        async with client(api) as c:
            for _ in range(2):
                assert await by_ids(c, ["a", "b", "c"], encoding) == ["a", "b", "c"]
        assert encoding.known("extract_v2") is True and encoding.known("parse_v2") is None
        repeated = [("page_size", "3"), ("job_ids", "a"), ("job_ids", "b"), ("job_ids", "c")]
        assert api.queries == [repeated] * 2

    @pytest.mark.parametrize("last", [False, True])
    async def test_job_ids_comma_when_the_api_splits_them(self, api: Api, last: bool) -> None:
        """A server that splits one comma-separated value reads one of the repeated keys and
        matches one id: that is not taken for the repeated form. The comma form finds them all
        and is kept: one extra request, then comma-separated."""
        api.default = ids_server(comma=True, last=last)
        encoding = JobIdsEncoding()
        async with client(api) as c:
            for _ in range(2):
                assert await by_ids(c, ["a", "b", "c"], encoding) == ["a", "b", "c"]
        assert encoding.known("extract_v2") is False and encoding.known("parse_v2") is None
        repeated = [("page_size", "3"), ("job_ids", "a"), ("job_ids", "b"), ("job_ids", "c")]
        comma = [("page_size", "3"), ("job_ids", "a,b,c")]
        assert api.queries == [repeated, comma, comma]

    async def test_job_ids_comma_when_the_repeated_form_is_refused(self, api: Api) -> None:
        """A strict server that answers 422 to the repeated key is asked the other way."""
        api.script = [status(422, body={"detail": [{"msg": "bad id"}]})]
        api.default = ids_server(comma=True)
        encoding = JobIdsEncoding()
        async with client(api) as c:
            got = await by_ids(c, ["a", "b"], encoding)
        assert got == ["a", "b"] and encoding.known("extract_v2") is False
        assert api.queries == [
            [("page_size", "2"), ("job_ids", "a"), ("job_ids", "b")],
            [("page_size", "2"), ("job_ids", "a,b")],
        ]

    @pytest.mark.parametrize("strict", [False, True])
    async def test_job_ids_one_match_is_checked_once(self, api: Api, strict: bool) -> None:
        """A batch with one job left matches one id repeated; the comma form, matching nothing
        (or refused by a strict server), confirms the repeated form: no error, then kept."""
        api.default = ids_server(comma=False)
        if strict:
            api.script = [ids_server(comma=False), status(422, body={"detail": "bad id"})]
        encoding = JobIdsEncoding()
        async with client(api) as c:
            for _ in range(2):
                assert await by_ids(c, ["a", "gone"], encoding) == ["a"]
        assert encoding.known("extract_v2") is True
        repeated = [("page_size", "2"), ("job_ids", "a"), ("job_ids", "gone")]
        assert api.queries == [repeated, [("page_size", "2"), ("job_ids", "a,gone")], repeated]

    async def test_job_ids_probing_stops_when_the_jobs_are_gone(self, api: Api) -> None:
        """Batches that match nothing either way teach nothing: after five, the SDK's form
        (repeated), one request per batch, instead of two for ever."""
        api.default = ids_server(comma=True)
        encoding = JobIdsEncoding()
        async with client(api) as c:
            for _ in range(7):
                assert await by_ids(c, ["gone-1", "gone-2"], encoding) == []
        assert encoding.known("extract_v2") is True and len(api.queries) == 5 * 2 + 2
        repeated = [("page_size", "2"), ("job_ids", "gone-1"), ("job_ids", "gone-2")]
        comma = [("page_size", "2"), ("job_ids", "gone-1,gone-2")]
        assert api.queries == [repeated, comma] * 5 + [repeated] * 2

    async def test_job_ids_with_a_comma_go_repeated(self, api: Api) -> None:
        """An id containing a comma can only travel repeated: no probe, and not comma-joined
        even where the comma form was learned."""
        api.default = ids_server(comma=False)
        async with client(api) as c:
            for encoding in (JobIdsEncoding(), JobIdsEncoding(repeated={"extract_v2": False})):
                await by_ids(c, ["a", "odd,id"], encoding)
        odd = [("page_size", "2"), ("job_ids", "a"), ("job_ids", "odd,id")]
        assert api.queries == [odd, odd]

    async def test_v1_listing(self, api: Api) -> None:
        """v1 endpoints take the agent id and answer a JSON array."""
        api.script = [
            status(200, body=[{"id": "j1", "status": "SUCCESS", "file": {"name": "a.pdf"}}])
        ]
        async with client(api, organization_id="org-1") as c:
            (job,) = await list_v1(c, "extraction_v1", extraction_agent_id="agent-1")
        # Pages 000 and 004 document no organization_id: only v2 listings carry it.
        assert job.name == "a.pdf" and api.queries[0] == [("extraction_agent_id", "agent-1")]


async def test_job_ids_first_as_the_official_sdk_sends_them() -> None:
    """The official SDK (llama-cloud) lists extract jobs by id from the simulator; the
    notifier's first request for the same ids carries the same `job_ids` items, in order."""
    runner, url, sim = await start_simulator(api_key=KEY)
    try:
        ids = [sim.jobs.create(SourceType.EXTRACT_V2, "RUNNING").id for _ in range(3)]
        loopback_only = DefaultAsyncHttpxClient(trust_env=False)  # no proxy from the environment
        async with AsyncLlamaCloud(
            api_key=KEY, base_url=url, max_retries=0, http_client=loopback_only
        ) as sdk:
            listed = await sdk.extract.list(job_ids=ids)
        assert sorted(job.id for job in listed.items) == sorted(ids)
        async with LlamaCloudClient(url, KEY, max_requests_per_second=1000) as c:
            assert sorted(await by_ids(c, ids, JobIdsEncoding())) == sorted(ids)
        theirs, ours = sim.requests  # the simulator reads the repeated form: learned at once

        def job_ids(request: dict[str, object]) -> list[tuple[str, str]]:
            query = request["query"]
            assert isinstance(query, list)
            return [(key, value) for key, value in query if key == "job_ids"]

        assert theirs["path"] == ours["path"] == "/api/v2/extract"
        assert job_ids(ours) == job_ids(theirs) == [("job_ids", i) for i in ids]
    finally:
        await runner.cleanup()
