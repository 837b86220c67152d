"""simulator: the shapes of pages 000-004 (checked by the official SDK's models), filters,
pagination, auth, 422s, lifecycles and faults, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from llama_cloud.types import ExtractV2Job, ExtractV2JobQueryResponse, ParsingListResponse

from notifier.core.statuses import SourceType
from notifier.simulator import Simulator, start_simulator
from notifier.simulator.state import JobStore

KEY = "sim-test-key"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Client:
    def __init__(
        self, url: str, sim: Simulator, session: aiohttp.ClientSession, clock: Clock
    ) -> None:
        self.url, self.sim, self.session, self.clock = url, sim, session, clock

    async def get(self, path: str, params: Any = (), key: str | None = KEY) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with self.session.get(self.url + path, params=params, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def control(self, path: str, body: object) -> Any:
        async with self.session.post(self.url + path, json=body) as r:
            assert r.status in (200, 201), await r.text()
            return await r.json()


@pytest.fixture
async def sim() -> AsyncIterator[Client]:
    clock = Clock()
    runner, url, state = await start_simulator(api_key=KEY, jobs=JobStore(clock))
    async with aiohttp.ClientSession() as session:
        yield Client(url, state, session, clock)
    await runner.cleanup()


def make(sim: Client, source: SourceType, n: int, **kw: Any) -> list[str]:
    return [
        sim.sim.jobs.create(source, created_at=T0 - timedelta(minutes=i), **kw).id for i in range(n)
    ]


class TestShapes:
    async def test_extract_list_and_single_job_validate_with_the_sdk(self, sim: Client) -> None:
        """The official models accept what the simulator serves, field for field."""
        job_id = make(sim, SourceType.EXTRACT_V2, 1, configuration_id="cfg-1")[0]
        sim.sim.jobs.set_status(job_id, "COMPLETED")
        status, body = await sim.get("/api/v2/extract")
        assert status == 200
        page = ExtractV2JobQueryResponse.model_validate(body)
        (item,) = page.items
        assert (item.id, item.status, item.configuration_id) == (job_id, "COMPLETED", "cfg-1")
        assert item.file_input == body["items"][0]["document_input_value"]
        assert item.created_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
        status, single = await sim.get(f"/api/v2/extract/{job_id}")
        assert status == 200 and {"parameters", "type", "value"} <= set(single)
        assert ExtractV2Job.model_validate({**single, "file_input": single["value"]}).id == job_id
        status, missing = await sim.get("/api/v2/extract/ext-nope")
        assert status == 404 and "detail" in missing

    async def test_sdk_model_would_catch_a_missing_field(self) -> None:
        """The oracle is strict enough to matter: an item without status is refused."""
        with pytest.raises(ValueError, match="status"):
            ParsingListResponse.model_validate({"id": "pjb-1", "project_id": "p"})

    async def test_parse_items_validate_with_the_sdk(self, sim: Client) -> None:
        """Every parse item is a valid ParsingListResponse, in every status."""
        ids = make(sim, SourceType.PARSE_V2, 5)
        for job_id, status in zip(
            ids, ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"], strict=True
        ):
            sim.sim.jobs.set_status(job_id, status, "bad scan" if status == "FAILED" else None)
        _, body = await sim.get("/api/v2/parse")
        assert set(body) == {"items", "next_page_token", "total_size"}
        models = [ParsingListResponse.model_validate(item) for item in body["items"]]
        assert [m.id for m in models] == ids
        assert next(m for m in models if m.status == "FAILED").error_message == "bad scan"

    async def test_v1_shapes(self, sim: Client) -> None:
        """v1 jobs nest agent and file; runs carry their own times; both are plain arrays."""
        make(sim, SourceType.EXTRACTION_V1, 2, extraction_agent_id="agent-1")
        make(sim, SourceType.EXTRACT_RUNS_V1, 1, extraction_agent_id="agent-1")
        _, jobs = await sim.get("/api/v1/extraction/jobs", {"extraction_agent_id": "agent-1"})
        assert len(jobs) == 2 and jobs[0]["extraction_agent"]["id"] == "agent-1"
        assert {"id", "status", "file", "file_id", "error", "extraction_agent"} == set(jobs[0])
        _, runs = await sim.get("/api/v1/extractionv2/runs", {"extraction_agent_id": "agent-1"})
        assert runs[0]["extraction_agent_id"] == "agent-1" and "created_at" in runs[0]
        _, other = await sim.get("/api/v1/extraction/jobs", {"extraction_agent_id": "agent-2"})
        assert other == []


class TestFilters:
    async def test_newest_first_and_inclusive_window(self, sim: Client) -> None:
        """created_at bounds are inclusive; order is newest first."""
        ids = make(sim, SourceType.EXTRACT_V2, 5)  # T0, T0-1m, ..., T0-4m
        params = {
            "created_at_on_or_after": "2026-11-23T09:57:00Z",
            "created_at_on_or_before": "2026-11-23T09:59:00.000Z",
        }
        _, body = await sim.get("/api/v2/extract", params)
        assert [i["id"] for i in body["items"]] == ids[1:4]

    async def test_status_job_ids_configuration_and_project(self, sim: Client) -> None:
        """Each filter narrows; job_ids repeat or come comma-separated."""
        ids = make(sim, SourceType.EXTRACT_V2, 4)
        sim.sim.jobs.set_status(ids[0], "RUNNING")
        other = sim.sim.jobs.create(
            SourceType.EXTRACT_V2, project_id="prj-other", configuration_id="cfg-9"
        ).id
        assert [
            i["id"] for i in (await sim.get("/api/v2/extract", {"status": "RUNNING"}))[1]["items"]
        ] == [ids[0]]
        _, body = await sim.get(
            "/api/v2/extract", [("job_ids", ids[1]), ("job_ids", f"{ids[2]},{ids[3]}")]
        )
        assert [i["id"] for i in body["items"]] == ids[1:]
        _, body = await sim.get("/api/v2/extract", {"configuration_id": "cfg-9"})
        assert [i["id"] for i in body["items"]] == [other]
        _, body = await sim.get("/api/v2/extract", {"project_id": "prj-other"})
        assert [i["id"] for i in body["items"]] == [other]

    async def test_pagination_covers_everything_once_despite_inserts(self, sim: Client) -> None:
        """250 jobs in pages of 100, with new jobs arriving between pages: none lost or repeated."""
        ids = make(sim, SourceType.PARSE_V2, 250)
        seen: list[str] = []
        token = None
        while True:
            params = {"page_size": "100", **({"page_token": token} if token else {})}
            _, body = await sim.get("/api/v2/parse", params)
            seen += [i["id"] for i in body["items"]]
            make(sim, SourceType.PARSE_V2, 1)  # a newer job lands mid-listing
            token = body["next_page_token"]
            if not token:
                break
        assert seen == ids

    @pytest.mark.parametrize(
        ("path", "params", "param"),
        [
            ("/api/v2/extract", {"page_size": "101"}, "page_size"),
            ("/api/v2/extract", {"page_size": "many"}, "page_size"),
            ("/api/v2/extract", {"status": "DONE"}, "status"),
            ("/api/v2/parse", {"status": "THROTTLED"}, "status"),
            ("/api/v2/parse", {"created_at_on_or_after": "last tuesday"}, "created_at_on_or_after"),
            ("/api/v2/parse", {"page_token": "forged"}, "page_token"),
            ("/api/v1/extraction/jobs", {}, "extraction_agent_id"),
            ("/api/v1/extractionv2/runs", {}, "extraction_agent_id"),
        ],
    )
    async def test_bad_parameters_get_422(
        self, sim: Client, path: str, params: dict[str, str], param: str
    ) -> None:
        """FastAPI's validation shape: detail[].loc/msg/type."""
        status, body = await sim.get(path, params)
        assert status == 422
        (detail,) = body["detail"]
        assert detail["loc"] == ["query", param] and detail["msg"] and detail["type"]

    async def test_auth(self, sim: Client) -> None:
        """No key or a wrong key is 401."""
        assert (await sim.get("/api/v2/extract", key=None))[0] == 401
        assert (await sim.get("/api/v2/extract", key="wrong"))[0] == 401


class TestBehaviour:
    async def test_scripted_lifecycle_advances_with_the_clock(self, sim: Client) -> None:
        """A job follows its script as time passes, updated_at moving with it."""
        job = await sim.control(
            "/_sim/jobs",
            {
                "source": "extract_v2",
                "script": [["PENDING", 5], ["THROTTLED", 5], ["COMPLETED", 0]],
            },
        )
        statuses = []
        for _ in range(3):
            _, body = await sim.get("/api/v2/extract", [("job_ids", job["id"])])
            statuses.append((body["items"][0]["status"], body["items"][0]["updated_at"]))
            sim.clock.now += timedelta(seconds=5)
        assert [s for s, _ in statuses] == ["PENDING", "THROTTLED", "COMPLETED"]
        assert statuses[2][1] == "2026-11-23T10:00:10.000Z"

    async def test_control_api_sets_any_status(self, sim: Client) -> None:
        """Tests can inject statuses the API does not document."""
        job = await sim.control("/_sim/jobs", {"source": "parse_v2", "status": "PENDING"})
        await sim.control(f"/_sim/jobs/{job['id']}/status", {"status": "MYSTERY"})
        _, body = await sim.get("/api/v2/parse")
        assert body["items"][0]["status"] == "MYSTERY"

    async def test_faults_and_request_log(self, sim: Client) -> None:
        """429 with Retry-After, 500, truncated JSON, then normal answers; all logged with query."""
        await sim.control(
            "/_sim/faults",
            {
                "rules": [
                    {"kind": "retry_after", "retry_after": 3, "count": 1},
                    {"kind": "status", "status": 502, "count": 1},
                    {"kind": "truncate", "count": 1},
                ]
            },
        )
        async with sim.session.get(
            sim.url + "/api/v2/extract", headers={"Authorization": f"Bearer {KEY}"}
        ) as r:
            assert r.status == 429 and r.headers["Retry-After"] == "3"
        assert (await sim.get("/api/v2/extract"))[0] == 502
        async with sim.session.get(
            sim.url + "/api/v2/extract?status=PENDING", headers={"Authorization": f"Bearer {KEY}"}
        ) as r:
            text = await r.text()
            assert r.status == 200
            with pytest.raises(ValueError):
                json.loads(text)
        assert (await sim.get("/api/v2/extract"))[0] == 200
        async with sim.session.get(sim.url + "/_sim/requests") as r:
            log = await r.json()
        assert [e["status"] for e in log] == [429, 502, 200, 200]
        assert log[2]["query"] == [["status", "PENDING"]]

    async def test_dropped_connection_and_down(self, sim: Client) -> None:
        """A dropped connection is a client error; `down` answers 503 until `up`."""
        # aiohttp retries a dropped idempotent request once by itself: drop two.
        await sim.control("/_sim/faults", {"rules": [{"kind": "drop", "count": 2}]})
        async with aiohttp.ClientSession() as fresh:
            with pytest.raises(aiohttp.ClientError):
                async with fresh.get(
                    sim.url + "/api/v2/parse", headers={"Authorization": f"Bearer {KEY}"}
                ) as r:
                    await r.read()
        assert [e["status"] for e in sim.sim.requests] == [None, None]
        await sim.control("/_sim/down", {})
        assert (await sim.get("/api/v2/parse"))[0] == 503
        await sim.control("/_sim/up", {})
        assert (await sim.get("/api/v2/parse"))[0] == 200
