"""The simulator's HTTP face: the four list endpoints, faults, and a `/_sim/` control API."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from notifier.core.statuses import STATUSES, SourceType
from notifier.core.timestamps import format_ts, parse_ts
from notifier.simulator.shapes import RENDER, extract_v2_single
from notifier.simulator.state import JobStore, SimJob, describe

V2 = {"/api/v2/extract": SourceType.EXTRACT_V2, "/api/v2/parse": SourceType.PARSE_V2}
V1 = {
    "/api/v1/extraction/jobs": SourceType.EXTRACTION_V1,
    "/api/v1/extractionv2/runs": SourceType.EXTRACT_RUNS_V1,
}
DEFAULT_PAGE_SIZE = 50
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Invalid(Exception):
    """A bad query parameter: answered 422 with FastAPI's `{"detail": [...]}` shape."""

    def __init__(self, param: str, msg: str, kind: str = "value_error") -> None:
        super().__init__(msg)
        self.param, self.msg, self.kind = param, msg, kind


def unprocessable(error: Invalid) -> web.Response:
    detail = [{"loc": ["query", error.param], "msg": error.msg, "type": error.kind}]
    return web.json_response({"detail": detail}, status=422)


@dataclass
class Fault:
    """One injected misbehaviour; `count` limits how many requests it hits."""

    kind: str
    path: str = "/api/"
    status: int = 500
    retry_after: float = 1.0
    delay: float = 0.0
    probability: float = 1.0
    count: int | None = None


@dataclass
class Simulator:
    """State and knobs of one fake LlamaCloud."""

    api_key: str = "sim-key"
    jobs: JobStore = field(default_factory=JobStore)
    faults: list[Fault] = field(default_factory=list)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10_000))
    down: bool = False
    rng: random.Random = field(default_factory=random.Random)


def _webhook_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """The first of a job's `webhook_configurations`, as the create calls take them."""
    configs = body.get("webhook_configurations")
    if isinstance(configs, list) and configs and isinstance(configs[0], dict):
        first = configs[0]
        if isinstance(first.get("webhook_url"), str):
            return first
    return None


def _token(key: tuple[str, str], fingerprint: str) -> str:
    raw = json.dumps({"k": list(key), "f": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str, fingerprint: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        created, job_id = data["k"]
        if data["f"] != fingerprint or not isinstance(created, str) or not isinstance(job_id, str):
            raise ValueError
    except (ValueError, KeyError, TypeError) as exc:
        raise Invalid("page_token", "Invalid page token") from exc
    return created, job_id


def _time_param(query: Any, name: str) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    moment = parse_ts(value)
    if moment is None:
        raise Invalid(name, "Input should be a valid datetime", "datetime_parsing")
    return format_ts(moment)


def list_v2(sim: Simulator, source: SourceType, query: Any) -> dict[str, Any]:
    """Filtered, newest-first, keyset-paginated items."""
    size_text = query.get("page_size", str(DEFAULT_PAGE_SIZE))
    try:
        page_size = int(float(size_text))
    except ValueError:
        raise Invalid("page_size", "Input should be a valid integer", "int_parsing") from None
    if not 1 <= page_size <= 100:
        raise Invalid("page_size", "Input should be between 1 and 100")
    status = query.get("status")
    if status is not None and status not in STATUSES[source]:
        allowed = ", ".join(repr(s) for s in STATUSES[source])
        raise Invalid("status", f"Input should be {allowed}", "enum")
    low = _time_param(query, "created_at_on_or_after")
    high = _time_param(query, "created_at_on_or_before")
    ids = {part for value in query.getall("job_ids", []) for part in value.split(",") if part}
    project = query.get("project_id")
    config = query.get("configuration_id") if source is SourceType.EXTRACT_V2 else None
    input_value = query.get("document_input_value") if source is SourceType.EXTRACT_V2 else None
    fingerprint = hashlib.sha256(
        repr((source, status, low, high, sorted(ids), project, config, input_value)).encode()
    ).hexdigest()[:16]
    before = _untoken(query["page_token"], fingerprint) if query.get("page_token") else None

    def wanted(job: SimJob) -> bool:
        return (
            (status is None or job.status == status)
            and (project is None or job.project_id == project)
            and (config is None or job.configuration_id == config)
            and (input_value is None or job.file_id == input_value)
            and (low is None or job.created_at >= low)
            and (high is None or job.created_at <= high)
        )

    if ids:
        found = [sim.jobs.by_id[i] for i in ids if i in sim.jobs.by_id]
        matches = sorted(
            (
                j
                for j in found
                if j.source is source and wanted(j) and (before is None or j.key < before)
            ),
            key=lambda j: j.key,
            reverse=True,
        )
        candidates = iter(matches)
    else:
        candidates = (j for j in sim.jobs.newest_first(source, low, high, before) if wanted(j))
    page: list[SimJob] = []
    for job in candidates:
        if len(page) == page_size:
            return {
                "items": [RENDER[source](j) for j in page],
                "next_page_token": _token(page[-1].key, fingerprint),
                "total_size": None,
            }
        page.append(job)
    return {"items": [RENDER[source](j) for j in page], "next_page_token": None, "total_size": None}


def create_app(sim: Simulator) -> web.Application:
    """The aiohttp application serving one simulator."""

    @web.middleware
    async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        sim.jobs.advance()
        response = await _faulty(request, handler)
        sim.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": [[k, v] for k, v in request.query.items()],
                "status": response.status if response is not None else None,
                "ts": time.time(),
            }
        )
        if response is None:  # dropped connection
            raise asyncio.CancelledError
        return response

    async def _faulty(  # noqa: PLR0911 -- one answer per fault kind
        request: web.Request, handler: Handler
    ) -> web.StreamResponse | None:
        if sim.down:
            return web.json_response({"detail": "Service Unavailable"}, status=503)
        if request.headers.get("Authorization") != f"Bearer {sim.api_key}":
            return web.json_response({"detail": "Invalid authentication credentials"}, status=401)
        for fault in list(sim.faults):
            if not request.path.startswith(fault.path) or sim.rng.random() >= fault.probability:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    sim.faults.remove(fault)
            if fault.kind == "delay":
                await asyncio.sleep(fault.delay)
                break
            if fault.kind == "status":
                return web.json_response({"detail": "Simulated failure"}, status=fault.status)
            if fault.kind == "retry_after":
                return web.json_response(
                    {"detail": "Too Many Requests"},
                    status=429,
                    headers={"Retry-After": f"{fault.retry_after:g}"},
                )
            if fault.kind == "drop":
                if request.transport is not None:
                    request.transport.close()
                return None
            if fault.kind == "truncate":
                real = await handler(request)
                body = real.body if isinstance(real, web.Response) else None
                whole = body if isinstance(body, bytes) else b"{}"
                cut = whole[: max(1, len(whole) // 2)]
                return web.Response(body=cut, status=200, content_type="application/json")
        return await handler(request)

    async def list_jobs(request: web.Request) -> web.Response:
        source = V2[request.path]
        try:
            return web.json_response(list_v2(sim, source, request.query))
        except Invalid as error:
            return unprocessable(error)

    async def get_extract(request: web.Request) -> web.Response:
        job = sim.jobs.by_id.get(request.match_info["job_id"])
        if job is None or job.source is not SourceType.EXTRACT_V2:
            return web.json_response({"detail": "Extraction job not found"}, status=404)
        return web.json_response(extract_v2_single(job))

    async def list_v1(request: web.Request) -> web.Response:
        source = V1[request.path]
        agent = request.query.get("extraction_agent_id")
        if not agent:
            return unprocessable(Invalid("extraction_agent_id", "Field required", "missing"))
        jobs = (
            sim.jobs.by_id[key[1]]
            for key in reversed(sim.jobs.index[source])
            if sim.jobs.by_id[key[1]].extraction_agent_id == agent
        )
        return web.json_response([RENDER[source](job) for job in jobs])

    app = web.Application(middlewares=[api_middleware])
    for path in V2:
        app.router.add_get(path, list_jobs)
    app.router.add_get("/api/v2/extract/{job_id}", get_extract)
    for path in V1:
        app.router.add_get(path, list_v1)
    _add_control(app, sim)
    return app


def _add_control(app: web.Application, sim: Simulator) -> None:
    """`/_sim/...`: create jobs, set statuses, inject faults, read the request log."""

    async def create_job(request: web.Request) -> web.Response:
        body = await request.json()
        try:
            source = SourceType(body["source"])
        except (KeyError, ValueError):
            return web.json_response(
                {"detail": "source must be one of the four families"}, status=400
            )
        script = [(str(s), float(d)) for s, d in body.get("script", [])]
        created = parse_ts(body.get("created_at")) if body.get("created_at") else None
        try:
            job = sim.jobs.create(
                source,
                script[0][0] if script else body.get("status", "PENDING"),
                created_at=created,
                job_id=body.get("id"),
                project_id=body.get("project_id"),
                name=body.get("name"),
                extraction_agent_id=body.get("extraction_agent_id"),
                configuration_id=body.get("configuration_id"),
                error_message=body.get("error_message"),
                script=script,
                webhook=_webhook_of(body),
            )
        except ValueError as exc:
            return web.json_response({"detail": str(exc)}, status=409)
        return web.json_response(RENDER[source](job), status=201)

    async def set_status(request: web.Request) -> web.Response:
        body = await request.json()
        job_id = request.match_info["job_id"]
        if job_id not in sim.jobs.by_id:
            return web.json_response({"detail": "no such job"}, status=404)
        job = sim.jobs.set_status(job_id, str(body["status"]), body.get("error_message"))
        return web.json_response(RENDER[job.source](job))

    async def bulk(request: web.Request) -> web.Response:
        body = await request.json()
        source = SourceType(body["source"])
        sim.jobs.bulk_terminal(
            source,
            int(body["count"]),
            project_id=body.get("project_id"),
            status=body.get("status", "COMPLETED"),
        )
        return web.json_response({"jobs": len(sim.jobs.by_id)}, status=201)

    async def set_faults(request: web.Request) -> web.Response:
        body = await request.json()
        if "seed" in body:
            sim.rng.seed(body["seed"])
        sim.faults.extend(Fault(**rule) for rule in body.get("rules", []))
        return web.json_response({"faults": len(sim.faults)})

    async def clear_faults(_: web.Request) -> web.Response:
        sim.faults.clear()
        return web.json_response({"faults": 0})

    async def requests_log(_: web.Request) -> web.Response:
        return web.json_response(list(sim.requests))

    async def clear_requests(_: web.Request) -> web.Response:
        sim.requests.clear()
        return web.json_response({"requests": 0})

    async def jobs(request: web.Request) -> web.Response:
        status = request.query.get("status")
        limit = int(request.query.get("limit", "10000"))
        found = (j for j in sim.jobs.by_id.values() if status is None or j.status == status)
        return web.json_response([describe(j) for _, j in zip(range(limit), found, strict=False)])

    app.router.add_post("/_sim/jobs", create_job)
    app.router.add_get("/_sim/jobs", jobs)
    app.router.add_post("/_sim/jobs/{job_id}/status", set_status)
    app.router.add_post("/_sim/bulk", bulk)
    app.router.add_post("/_sim/faults", set_faults)
    app.router.add_delete("/_sim/faults", clear_faults)
    app.router.add_get("/_sim/requests", requests_log)
    app.router.add_delete("/_sim/requests", clear_requests)
    _add_switches(app, sim)


def _add_switches(app: web.Application, sim: Simulator) -> None:
    """`/_sim/down|up` make the API answer 503 or not; `/_sim/pause|resume` freeze lifecycles."""

    def toggle(**changes: bool) -> Handler:
        async def handler(_: web.Request) -> web.Response:
            for key, value in changes.items():
                if key == "paused":
                    sim.jobs.paused = value
                else:
                    sim.down = value
            return web.json_response({"down": sim.down, "paused": sim.jobs.paused})

        return handler

    app.router.add_post("/_sim/down", toggle(down=True))
    app.router.add_post("/_sim/up", toggle(down=False))
    app.router.add_post("/_sim/pause", toggle(paused=True))
    app.router.add_post("/_sim/resume", toggle(paused=False))
