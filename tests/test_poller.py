"""poller: what each cycle asks LlamaCloud for, and what it records (simulator + SQLite file)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web

from notifier.core.listings import Slice, plan_refresh, slice_listing, slicing_pays
from notifier.core.rules import Rule, When
from notifier.core.statuses import SourceType
from notifier.llamacloud.client import ApiError, LlamaCloudClient
from notifier.polling.poller import Poller, PollOptions, PollTarget
from notifier.simulator import Simulator, start_simulator
from notifier.simulator.app import Fault
from notifier.simulator.state import JobStore
from notifier.store.db import Store
from tests.harness import serve

KEY = "poller-test-key"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EXTRACT = PollTarget(name="extract_v2", source="extract_v2", scope="")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    sim: Simulator
    store: Store
    clock: Clock
    client: LlamaCloudClient

    def poller(self, **options: object) -> Poller:
        opts = PollOptions(lookback=timedelta(days=1), overlap=timedelta(minutes=5), **options)  # type: ignore[arg-type]
        return Poller(
            self.client, self.store, [Rule("all", When(), ("hook",))], opts, clock=self.clock
        )

    def requests(self) -> list[dict[str, list[str]]]:
        """The query of each API request since the last call, as {key: [values]}."""
        out = []
        for entry in self.sim.requests:
            query: dict[str, list[str]] = {}
            for key, value in entry["query"]:
                query.setdefault(key, []).append(value)
            out.append({"path": [entry["path"]], **query})
        self.sim.requests.clear()
        return out

    def create(self, source: SourceType, status: str, minutes_ago: float = 0, **kw: object) -> str:
        created = self.clock.now - timedelta(minutes=minutes_ago)
        return self.sim.jobs.create(source, status, created_at=created, **kw).id  # type: ignore[arg-type]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = Clock()
    runner, url, sim = await start_simulator(api_key=KEY, jobs=JobStore(clock))
    client = LlamaCloudClient(url, KEY, max_requests_per_second=1000, rng=random.Random(0))
    yield Rig(sim, Store(tmp_path / "n.db"), clock, client)
    await client.close()
    await runner.cleanup()


class TestCheapSteadyState:
    async def test_first_cycle_lists_lookback_then_watermark_and_active_ids(self, rig: Rig) -> None:
        """Baseline over the lookback; then discovery from newest created_at - overlap, plus ids."""
        running = rig.create(SourceType.EXTRACT_V2, "RUNNING", minutes_ago=30)
        for i in range(150):
            rig.create(SourceType.EXTRACT_V2, "COMPLETED", minutes_ago=1 + i)
        poller = rig.poller()
        first = await poller.poll(EXTRACT)
        assert first.events == [] and first.observed == 151
        (page1, page2) = rig.requests()
        assert page1["created_at_on_or_after"] == ["2026-11-22T12:00:00.000000Z"]
        assert "page_token" in page2

        rig.clock.now += timedelta(seconds=30)
        new = rig.create(SourceType.EXTRACT_V2, "PENDING")
        rig.sim.jobs.set_status(running, "FAILED", "out of pages")
        second = await poller.poll(EXTRACT)
        assert [(e.job_id, e.from_status, e.to_status) for e in second.events] == [
            (new, None, "PENDING"),
            (running, "RUNNING", "FAILED"),
        ]
        discovery, probe, refresh = rig.requests()
        assert discovery["created_at_on_or_after"] == ["2026-11-23T11:54:00.000000Z"]  # 11:59 - 5m
        # One non-terminal status over the lookback window: re-runs and late jobs land there.
        assert probe["status"] == ["PENDING"]
        assert probe["created_at_on_or_after"] == ["2026-11-22T12:00:30.000000Z"]
        assert refresh["job_ids"] == [running]
        assert second.requests == 3

        rig.clock.now += timedelta(seconds=30)
        third = await poller.poll(EXTRACT)
        discovery, probe = rig.requests()  # `new` is inside the overlap: no ids needed
        assert discovery["created_at_on_or_after"] == ["2026-11-23T11:55:30.000000Z"]
        assert probe["status"] == ["THROTTLED"]  # the probes take turns
        assert third.events == [] and third.requests == 2

    async def test_a_steady_cycle_reads_the_store_once_before_it_fetches(
        self, rig: Rig, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """One scope view before the first request, then nothing but the new jobs' rows, looked
        up once at commit, and one commit: the store is not asked page by page."""
        running = [rig.create(SourceType.EXTRACT_V2, "RUNNING", minutes_ago=30) for _ in range(3)]
        for i in range(250):
            rig.create(SourceType.EXTRACT_V2, "COMPLETED", minutes_ago=1 + i / 100)
        poller = rig.poller(job_ids_batch=2)
        await poller.poll(EXTRACT)
        calls: list[str] = []
        for name in ("scope_view", "load_rows", "commit_cycle", "commit_jobs", "source_state"):
            real = getattr(rig.store, name)

            def spy(*args: object, _name: str = name, _real: object = real, **kw: object) -> object:
                calls.append(_name)
                return _real(*args, **kw)  # type: ignore[operator]

            monkeypatch.setattr(rig.store, name, spy)
        rig.clock.now += timedelta(seconds=30)
        new = [rig.create(SourceType.EXTRACT_V2, "PENDING") for _ in range(2)]
        rig.sim.jobs.set_status(running[0], "FAILED", "boom")
        result = await poller.poll(EXTRACT)
        assert sorted((e.job_id, e.to_status) for e in result.events) == sorted(
            [(new[0], "PENDING"), (new[1], "PENDING"), (running[0], "FAILED")]
        )
        assert result.requests >= 3  # discovery and two id batches
        assert calls == ["scope_view", "load_rows", "commit_cycle"]

    async def test_a_busy_scope_lists_every_status_it_knows_jobs_in(self, rig: Rig) -> None:
        """Once a status's known jobs fill an id batch, every non-terminal status with known
        jobs is listed over the lookback window each cycle (the full one costs what its ids
        would, the others a page each); the statuses without known jobs take turns as a
        probe, so a re-run into one is found within two cycles; what left a listed status is
        read by id. A quiet scope rides in one id batch and probes by turn."""
        busy = plan_refresh(
            {"RUNNING": 1000, "PENDING": 99}, ["PENDING", "THROTTLED", "RUNNING"], batch=100, turn=0
        )
        assert (busy.by_status, busy.probe) == (("PENDING", "RUNNING"), "THROTTLED")
        quiet = plan_refresh({"RUNNING": 99}, ["PENDING", "RUNNING"], batch=100, turn=3)
        assert (quiet.by_status, quiet.probe) == ((), "RUNNING")
        ids = [rig.create(SourceType.EXTRACT_V2, "RUNNING", minutes_ago=10 + i) for i in range(30)]
        done = rig.create(SourceType.EXTRACT_V2, "FAILED", minutes_ago=600)
        poller = rig.poller(job_ids_batch=5)
        await poller.poll(EXTRACT)
        rig.requests()
        rig.clock.now += timedelta(hours=2)  # nothing new; the overlap no longer covers them
        rig.sim.jobs.set_status(ids[10], "COMPLETED")  # created 11:40, before the overlap
        first = await poller.poll(EXTRACT)
        _, *by_status, vanished = rig.requests()
        assert [r["status"] for r in by_status] == [["RUNNING"], ["PENDING"]]  # PENDING probed
        assert {r["created_at_on_or_after"][0] for r in by_status} == {
            "2026-11-22T14:00:00.000000Z"  # the lookback window
        }
        assert all("created_at_on_or_before" not in r for r in by_status)
        assert vanished["job_ids"] == [ids[10]]
        assert [(e.job_id, e.to_status) for e in first.events] == [(ids[10], "COMPLETED")]

        rig.sim.jobs.set_status(done, "THROTTLED")  # a failed job re-run, created long ago
        rig.clock.now += timedelta(seconds=30)
        second = await poller.poll(EXTRACT)
        assert [r.get("status") for r in rig.requests()[1:]] == [["RUNNING"], ["THROTTLED"]]
        assert [(e.job_id, e.to_status) for e in second.events] == [(done, "THROTTLED")]

    async def test_an_idle_scope_of_an_adaptive_daemon_only_discovers(self, rig: Rig) -> None:
        """No running jobs and probe_when_idle off (polling.active_interval set): one request."""
        rig.create(SourceType.EXTRACT_V2, "COMPLETED", minutes_ago=10)
        poller = rig.poller(probe_when_idle=False)
        await poller.poll(EXTRACT)
        rig.requests()
        rig.clock.now += timedelta(minutes=1)
        assert (await poller.poll(EXTRACT)).requests == 1
        rig.create(SourceType.EXTRACT_V2, "RUNNING")
        rig.clock.now += timedelta(seconds=5)
        await poller.poll(EXTRACT)  # discovers the running job
        rig.requests()
        rig.clock.now += timedelta(seconds=5)
        busy = await poller.poll(EXTRACT)
        assert busy.requests == 2  # discovery, and a probe now that jobs run
        assert "status" in rig.requests()[1]

    async def test_source_filters_narrow_what_is_fetched(self, rig: Rig) -> None:
        """`statuses` and `configuration_id` become query parameters."""
        target = PollTarget(
            "failed-extracts",
            "extract_v2",
            "",
            statuses=("FAILED", "CANCELLED"),
            configuration_id="cfg-7",
            project_id="prj-a",
        )
        await rig.poller().poll(target)
        assert [(r["status"], r["configuration_id"], r["project_id"]) for r in rig.requests()] == [
            (["FAILED"], ["cfg-7"], ["prj-a"]),
            (["CANCELLED"], ["cfg-7"], ["prj-a"]),
        ]

    async def test_discovery_stops_at_known_pages(self, rig: Rig) -> None:
        """A busy overlap window costs the page that reaches past the watermark: once its
        jobs below the watermark are all known and at least half the page, the rest of the
        overlap is known too; a page mostly new asks for the next one."""
        for i in range(350):  # 350 jobs created within the 5-minute overlap
            rig.create(SourceType.EXTRACT_V2, "COMPLETED", minutes_ago=i / 100)
        poller = rig.poller()
        await poller.poll(EXTRACT)
        rig.requests()
        rig.clock.now += timedelta(seconds=30)
        new = [rig.create(SourceType.EXTRACT_V2, "PENDING") for _ in range(20)]
        result = await poller.poll(EXTRACT)
        pages = [r for r in rig.requests() if "status" not in r]  # discovery, not the probe
        assert len(pages) == 1  # the 20 new jobs and 80 known ones below the watermark
        assert {e.job_id for e in result.events} == set(new)

        rig.clock.now += timedelta(seconds=30)
        more = [rig.create(SourceType.EXTRACT_V2, "PENDING") for _ in range(60)]
        result = await poller.poll(EXTRACT)
        pages = [r for r in rig.requests() if "status" not in r]
        assert len(pages) == 2  # 60 new and 40 known: not yet enough to trust the rest
        assert {e.job_id for e in result.events} == set(more)


class TestSideBySide:
    def test_a_long_status_listing_is_cut_into_slices_sharing_their_bounds(self) -> None:
        """Exactly three pages of known jobs a slice, the newest one open-ended and holding
        the rest; a bound lies a microsecond after its slice's last job and is shared by both
        neighbours, so every known job lies in exactly one slice and the slices cost what
        the whole listing would."""
        low = "2026-11-22T12:00:00.000000Z"
        created = [f"2026-11-23T{h:02d}:{m:02d}:00.000000Z" for h in range(17) for m in range(60)]
        created = created[:1000]
        parts = slice_listing(created, low=low, page_size=100)
        assert len(parts) == 4 and parts[0].low == low and parts[-1].high is None
        assert all(a.high == b.low for a, b in itertools.pairwise(parts))
        held = [[c for c in created if p.low <= c <= (p.high or "~")] for p in parts]
        assert [len(h) for h in held] == [300, 300, 300, 100]  # 10 pages, as unsliced
        assert sorted(c for h in held for c in h) == sorted(created)  # each exactly once
        assert parts[0].high == "2026-11-23T04:59:00.000001Z"
        assert slice_listing(created[:300], low=low, page_size=100) == (Slice(low, None),)
        assert slice_listing([*created, None], low=low, page_size=100) == (Slice(low, None),)

    def test_slices_pay_when_a_cycle_is_a_sizable_part_of_its_interval(self) -> None:
        assert slicing_pays(0.5, 2.0) and slicing_pays(4.0, 30.0)
        assert not slicing_pays(1.0, 30.0)  # about half a request a cycle for 3 % of it
        assert not slicing_pays(None, 2.0) and not slicing_pays(0.5, None)

    async def test_a_busy_cycle_lists_side_by_side_and_takes_its_longest_chain(
        self, rig: Rig
    ) -> None:
        """700 running jobs and 10 pending: discovery, three slices of RUNNING and the other
        statuses go at once, so with 0.1 s an answer the cycle takes about four answers,
        not twelve; every change is still found, once."""
        running = [
            rig.create(SourceType.EXTRACT_V2, "RUNNING", minutes_ago=60 + i) for i in range(700)
        ]
        for i in range(10):
            rig.create(SourceType.EXTRACT_V2, "PENDING", minutes_ago=30 + i)
        poller = rig.poller()
        await poller.poll(EXTRACT)
        await asyncio.sleep(1.0)  # a quick cycle long after the last: slices would not pay
        await poller.poll(EXTRACT)
        assert not any("created_at_on_or_before" in q for q in rig.requests())
        await poller.poll(EXTRACT)  # back to back: a cycle's length now is its whole gap
        rig.clock.now += timedelta(hours=1)
        rig.sim.jobs.set_status(running[5], "COMPLETED")
        rig.sim.jobs.set_status(running[650], "THROTTLED")
        new = rig.create(SourceType.EXTRACT_V2, "PENDING")
        rig.requests()
        rig.sim.faults.append(Fault(kind="delay", delay=0.1))
        started = time.monotonic()
        result = await poller.poll(EXTRACT)
        took = time.monotonic() - started
        queries = rig.requests()
        assert sorted((e.job_id, e.to_status) for e in result.events) == sorted(
            [(running[5], "COMPLETED"), (running[650], "THROTTLED"), (new, "PENDING")]
        )
        slices = [q for q in queries if q.get("status") == ["RUNNING"] and "page_token" not in q]
        assert len(slices) == 3
        assert sum("created_at_on_or_before" in q for q in slices) == 2
        assert len(queries) >= 11  # one after the other, that is at least 1.1 s
        assert took < 0.8, f"{len(queries)} requests took {took:.2f} s: not side by side"

    async def test_a_failing_listing_fails_the_cycle_with_the_clients_error(self, rig: Rig) -> None:
        """Side by side, one listing's error is the cycle's: an ApiError on the status page,
        not an exception group; the watermark stays."""
        for i in range(150):
            rig.create(SourceType.EXTRACT_V2, "RUNNING", minutes_ago=10 + i)
        poller = rig.poller()
        await poller.poll(EXTRACT)
        before = rig.store.source_state("extract_v2", "").watermark
        rig.clock.now += timedelta(minutes=1)
        rig.client.max_retries = 1
        rig.client._sleep = lambda _s: __import__("asyncio").sleep(0)
        rig.sim.faults.append(Fault(kind="status", status=503))
        with pytest.raises(ApiError):
            await poller.poll(EXTRACT)
        state = rig.store.source_state("extract_v2", "")
        assert state.last_error and "HTTP 503" in state.last_error
        assert state.watermark == before


class TestCheapCatches:
    async def test_status_probes_find_reruns_and_late_jobs_within_a_few_cycles(
        self, rig: Rig
    ) -> None:
        """What once waited for a reconcile pass: a finished job re-run and a job created
        before the watermark, both non-terminal, are found by the status probes."""
        done = rig.create(SourceType.EXTRACT_V2, "COMPLETED", minutes_ago=120)
        rig.create(SourceType.EXTRACT_V2, "COMPLETED")  # the newest job sets the watermark
        poller = rig.poller()
        await poller.poll(EXTRACT)  # baseline
        rig.clock.now += timedelta(seconds=30)
        rig.sim.jobs.set_status(done, "RUNNING")  # a finished job re-run
        late = rig.create(SourceType.EXTRACT_V2, "PENDING", minutes_ago=90)  # before the watermark
        rig.requests()
        found = []
        for _ in range(3):  # PENDING, THROTTLED, RUNNING take turns
            found += (await poller.poll(EXTRACT)).events
            rig.clock.now += timedelta(seconds=30)
        assert {(e.job_id, e.from_status, e.to_status) for e in found} == {
            (done, "COMPLETED", "RUNNING"),
            (late, None, "PENDING"),
        }
        assert all(r.get("created_at_on_or_before") is None for r in rig.requests())


class TestEvents:
    async def test_stuck_fires_once_per_stay(self, rig: Rig) -> None:
        """RUNNING past stuck_after: one job.stuck; again only after leaving and re-entering."""
        job = rig.create(SourceType.PARSE_V2, "RUNNING")
        target = PollTarget("parse_v2", "parse_v2", "", stuck_after=timedelta(minutes=30))
        poller = rig.poller()
        await poller.poll(target)
        kinds = []
        for minutes, status in [
            (20, None),
            (15, None),
            (10, None),
            (1, "PENDING"),
            (1, "RUNNING"),
            (29, None),
            (2, None),
            (5, None),
        ]:
            rig.clock.now += timedelta(minutes=minutes)
            if status:
                rig.sim.jobs.set_status(job, status)
            kinds.append([(e.type, e.to_status) for e in (await poller.poll(target)).events])
        assert kinds == [
            [],
            [("job.stuck", "RUNNING")],
            [],
            [("job.status_changed", "PENDING")],
            [("job.status_changed", "RUNNING")],
            [],
            [("job.stuck", "RUNNING")],
            [],
        ]

    async def test_unknown_status_is_an_event_with_phase_unknown(self, rig: Rig) -> None:
        """A status outside the vocabulary is reported, never fatal, and stays watched."""
        job = rig.create(SourceType.EXTRACT_V2, "RUNNING")
        poller = rig.poller()
        await poller.poll(EXTRACT)
        rig.sim.jobs.set_status(job, "QUARANTINED")
        rig.clock.now += timedelta(seconds=30)
        (event,) = (await poller.poll(EXTRACT)).events
        assert (event.to_status, event.phase, event.llamacloud_event) == (
            "QUARANTINED",
            "unknown",
            "extract.quarantined",
        )
        assert rig.store.active_job_ids("extract_v2", "") == [job]

    async def test_several_projects_with_one_key(self, rig: Rig) -> None:
        """Each project is its own scope; events carry their project."""
        a = rig.create(SourceType.EXTRACT_V2, "PENDING", project_id="prj-a")
        b = rig.create(SourceType.EXTRACT_V2, "PENDING", project_id="prj-b")
        targets = [
            PollTarget("extract_v2", "extract_v2", p, project_id=p) for p in ("prj-a", "prj-b")
        ]
        poller = rig.poller(initial_sync="notify")
        events = [e for t in targets for e in (await poller.poll(t)).events]
        assert [(e.job_id, e.project_id) for e in events] == [(a, "prj-a"), (b, "prj-b")]
        assert [r["project_id"] for r in rig.requests()] == [["prj-a"], ["prj-b"]]
        assert {s.scope for s in rig.store.source_states()} == {"prj-a", "prj-b"}

    async def test_v1_sources_are_listed_whole_per_agent(self, rig: Rig) -> None:
        """One listing per agent per cycle; v1 fields land where the payload expects them."""
        job = rig.create(SourceType.EXTRACTION_V1, "PENDING", extraction_agent_id="agent-1")
        run = rig.create(SourceType.EXTRACT_RUNS_V1, "CREATED", extraction_agent_id="agent-1")
        jobs_target = PollTarget(
            "extraction_v1", "extraction_v1", "agent-1", extraction_agent_id="agent-1"
        )
        runs_target = PollTarget(
            "extract_runs_v1", "extract_runs_v1", "agent-1", extraction_agent_id="agent-1"
        )
        poller = rig.poller()
        await poller.poll(jobs_target)
        await poller.poll(runs_target)
        rig.sim.jobs.set_status(job, "ERROR", "schema mismatch")
        rig.sim.jobs.set_status(run, "PENDING")
        (job_event,) = (await poller.poll(jobs_target)).events
        (run_event,) = (await poller.poll(runs_target)).events
        assert (job_event.to_status, job_event.phase, job_event.error_message) == (
            "ERROR",
            "failed",
            "schema mismatch",
        )
        assert job_event.extraction_agent_id == "agent-1" and job_event.project_id is not None
        assert job_event.job_created_at is not None  # the nested file's, as is job_updated_at
        assert job_event.job_updated_at == job_event.job["file"]["updated_at"].replace("Z", "000Z")
        assert (run_event.from_status, run_event.to_status, run_event.llamacloud_event) == (
            "CREATED",
            "PENDING",
            "extract.pending",
        )
        assert [r["extraction_agent_id"] for r in rig.requests()] == [["agent-1"]] * 4


class TestBaseline:
    async def test_failed_first_cycle_is_no_baseline(self, rig: Rig) -> None:
        """Until one complete listing succeeds, nothing is recorded and nothing notified."""
        rig.create(SourceType.EXTRACT_V2, "RUNNING")
        rig.sim.faults.append(Fault(kind="status", status=500, count=3))
        rig.client.max_retries = 1
        rig.client._sleep = lambda _s: __import__("asyncio").sleep(0)
        with pytest.raises(ApiError):
            await rig.poller().poll(EXTRACT)
        state = rig.store.source_state("extract_v2", "")
        assert not state.baseline_done and state.last_error and "HTTP 500" in state.last_error
        assert rig.store.active_job_ids("extract_v2", "") == []
        result = await rig.poller().poll(EXTRACT)  # now it succeeds: a silent baseline
        assert result.events == [] and rig.store.source_state("extract_v2", "").baseline_done


def fail_after_first_part(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Cycles commit every 50 jobs, and the API fails (twice, more than the client retries)
    right after the first part is committed. Returns the rows written by each part."""
    monkeypatch.setattr("notifier.polling.cycle.FLUSH_AT", 50)
    rig.client.max_retries = 1
    rig.client._sleep = lambda _s: __import__("asyncio").sleep(0)
    parts: list[int] = []
    commit_jobs = rig.store.commit_jobs

    def commit_then_break(**kw: object) -> int:
        parts.append(len(kw["rows"]))  # type: ignore[arg-type]
        if len(parts) == 1:
            rig.sim.faults.append(Fault(kind="status", status=500, count=2))
        return commit_jobs(**kw)  # type: ignore[arg-type]

    monkeypatch.setattr(rig.store, "commit_jobs", commit_then_break)
    return parts


class TestLongCycles:
    async def test_a_long_listing_commits_in_parts_and_resumes_after_a_failure(
        self, rig: Rig, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A window bigger than FLUSH_AT is committed page by page, the scope's state last: a
        listing that fails half-way keeps what it committed and the retry adds only the rest."""
        jobs = {rig.create(SourceType.EXTRACT_V2, "PENDING", minutes_ago=i) for i in range(230)}
        parts = fail_after_first_part(rig, monkeypatch)
        poller = rig.poller(initial_sync="notify")
        with pytest.raises(ApiError):
            await poller.poll(EXTRACT)
        state = rig.store.source_state("extract_v2", "")
        assert parts == [100]
        assert (state.cycles, state.watermark, state.baseline_done) == (0, None, False)
        assert sum(rig.store.outbox.counts().values()) == 100

        result = await poller.poll(EXTRACT)
        # Rows written per part: page 1 again (unchanged, none), page 2; page 3 goes with the state.
        assert parts == [100, 0, 100]
        assert len(result.events) == 130  # the first part's 100 are not notified again
        assert sum(rig.store.outbox.counts().values()) == 230
        recorded = {row[0] for row in rig.store.conn.execute("SELECT job_id FROM events")}
        assert recorded == jobs and len(recorded) == 230
        state = rig.store.source_state("extract_v2", "")
        assert (state.cycles, state.baseline_done) == (1, True)
        assert state.watermark == "2026-11-23T12:00:00.000000Z"

    async def test_baseline_failing_part_way_stays_silent(
        self, rig: Rig, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A baseline that committed a part before failing notifies nothing, not even a change
        of a job it recorded, until it completes; later changes are notified."""
        ids = [rig.create(SourceType.EXTRACT_V2, "RUNNING", minutes_ago=i) for i in range(150)]
        parts = fail_after_first_part(rig, monkeypatch)
        poller = rig.poller()
        with pytest.raises(ApiError):
            await poller.poll(EXTRACT)
        assert parts == [100] and len(rig.store.active_job_ids("extract_v2", "")) == 100
        rig.sim.jobs.set_status(ids[0], "COMPLETED")  # recorded by the failed part
        rig.clock.now += timedelta(seconds=30)
        baseline = await poller.poll(EXTRACT)
        assert baseline.events == [] and rig.store.source_state("extract_v2", "").baseline_done
        assert sum(rig.store.outbox.counts().values()) == 0
        rig.sim.jobs.set_status(ids[1], "FAILED", "boom")
        rig.clock.now += timedelta(seconds=30)
        (event,) = (await poller.poll(EXTRACT)).events
        assert (event.job_id, event.from_status, event.to_status) == (ids[1], "RUNNING", "FAILED")


class LiteralApi:
    """GET /api/v2/parse written from the API page alone, with the liberties the page leaves:
    it ignores `project_id`, may list oldest first, may cap `page_size`, may leave out the
    optional `created_at`. It still filters by creation date, status and `job_ids`."""

    def __init__(self, *, newest_first: bool = True, page_cap: int = 100, dated: bool = True):
        self.newest_first = newest_first
        self.page_cap = page_cap
        self.dated = dated
        self.jobs: dict[str, tuple[str, datetime]] = {}  # id -> (status, created_at)
        self.queries: list[dict[str, str]] = []
        self.clock: datetime | None = None  # its own time, sent as the Date header

    async def handle(self, request: web.Request) -> web.Response:
        query = request.query
        self.queries.append(dict(query))
        ids = {i for value in query.getall("job_ids", []) for i in value.split(",")}
        low = query.get("created_at_on_or_after")
        listed = [
            (job_id, status, created)
            for job_id, (status, created) in self.jobs.items()
            if (not ids or job_id in ids)
            and (low is None or created >= datetime.fromisoformat(low))
            and query.get("status", status) == status
        ]
        listed.sort(key=lambda job: job[2], reverse=self.newest_first)
        start = int(query.get("page_token", "0"))
        size = min(int(query.get("page_size", "100")), self.page_cap)
        items: list[dict[str, object]] = [
            {"id": job_id, "status": status, "project_id": "prj-somewhere-else"}
            for job_id, status, _ in listed[start : start + size]
        ]
        if self.dated:
            for item, (_, _, created) in zip(items, listed[start:], strict=False):
                item["created_at"] = created.isoformat().replace("+00:00", "Z")
        more = start + size < len(listed)
        headers = {} if self.clock is None else {"Date": format_datetime(self.clock, usegmt=True)}
        return web.json_response(
            {"items": items, "next_page_token": str(start + size) if more else None},
            headers=headers,
        )


@pytest.fixture
async def literal(tmp_path: Path) -> AsyncIterator[tuple[LiteralApi, Poller, Clock]]:
    api = LiteralApi()
    app = web.Application()
    app.router.add_get("/api/v2/parse", api.handle)
    runner, url = await serve(app)
    clock = Clock()
    client = LlamaCloudClient(url, KEY, max_requests_per_second=1000, rng=random.Random(0))
    options = PollOptions(lookback=timedelta(days=1), overlap=timedelta(minutes=5))
    rules = [Rule("all", When(), ("hook",))]
    yield api, Poller(client, Store(tmp_path / "l.db"), rules, options, clock=clock), clock
    await client.close()
    await runner.cleanup()


PARSE = PollTarget(name="parse_v2", source="parse_v2", scope="prj-a", project_id="prj-a")


class TestLiteralApi:
    async def test_running_jobs_naming_another_project_are_still_refreshed(
        self, literal: tuple[LiteralApi, Poller, Clock]
    ) -> None:
        """The scope that listed a job refreshes it, whatever project its item names."""
        api, poller, clock = literal
        api.jobs["pjb-old"] = ("RUNNING", T0 - timedelta(hours=3))
        api.jobs["pjb-new"] = ("COMPLETED", T0)
        await poller.poll(PARSE)
        api.jobs["pjb-old"] = ("COMPLETED", T0 - timedelta(hours=3))
        clock.now += timedelta(minutes=10)
        (event,) = (await poller.poll(PARSE)).events
        assert (event.job_id, event.to_status, event.project_id) == (
            "pjb-old",
            "COMPLETED",
            "prj-somewhere-else",
        )

    async def test_discovery_reads_on_when_the_listing_is_not_newest_first(
        self, literal: tuple[LiteralApi, Poller, Clock]
    ) -> None:
        """Oldest first in pages of 10: the known first page does not end discovery."""
        api, poller, clock = literal
        api.newest_first, api.page_cap = False, 10
        for i in range(30):
            api.jobs[f"pjb-{i:02d}"] = ("COMPLETED", T0 - timedelta(minutes=4, seconds=i))
        await poller.poll(PARSE)
        clock.now += timedelta(seconds=30)
        api.jobs["pjb-late"] = ("PENDING", T0 + timedelta(seconds=10))
        (event,) = (await poller.poll(PARSE)).events
        assert (event.job_id, event.to_status) == ("pjb-late", "PENDING")
        api.newest_first = True
        api.jobs["pjb-later"] = ("PENDING", T0 + timedelta(seconds=20))
        clock.now += timedelta(seconds=30)
        api.queries.clear()
        (event,) = (await poller.poll(PARSE)).events
        assert event.job_id == "pjb-later"
        discovery = [q for q in api.queries if "status" not in q and "job_ids" not in q]
        # Newest first again: page 1 holds the new job and nine known ones below the
        # watermark, which end it (three pages would list the whole overlap).
        assert len(discovery) == 1

    async def test_undated_jobs_still_move_the_watermark(
        self, literal: tuple[LiteralApi, Poller, Clock]
    ) -> None:
        """Items without created_at: the next cycle lists since the last one, not the lookback."""
        api, poller, clock = literal
        api.dated = False
        api.jobs["pjb-1"] = ("COMPLETED", T0 - timedelta(hours=20))
        await poller.poll(PARSE)
        clock.now += timedelta(minutes=1)
        api.queries.clear()
        await poller.poll(PARSE)
        discovery = [q for q in api.queries if "status" not in q]
        low = datetime.fromisoformat(discovery[-1]["created_at_on_or_after"])
        assert low == T0 - timedelta(minutes=5)

    async def test_undated_jobs_go_by_the_api_clock_when_it_is_behind(
        self, literal: tuple[LiteralApi, Poller, Clock]
    ) -> None:
        """The API's clock 20 minutes behind ours: a job it creates after the first cycle is
        still inside the next cycle's window (its Date header, not our clock, sets it)."""
        api, poller, clock = literal
        api.dated, api.clock = False, T0 - timedelta(minutes=20)
        api.jobs["pjb-old"] = ("COMPLETED", T0 - timedelta(hours=20))
        await poller.poll(PARSE)
        api.clock += timedelta(minutes=1)
        api.jobs["pjb-new"] = ("PENDING", api.clock)
        clock.now += timedelta(minutes=1)
        (event,) = (await poller.poll(PARSE)).events
        assert (event.job_id, event.to_status) == ("pjb-new", "PENDING")
