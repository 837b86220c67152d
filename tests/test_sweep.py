"""sweep: the lookback window re-listed beside the cycles, slice by slice, resumable, and
what it finds re-read by the next cycle (simulator + SQLite file)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.core.models import Job, SnapshotRow
from notifier.core.rules import Rule, When
from notifier.core.statuses import SourceType
from notifier.llamacloud.client import LlamaCloudClient
from notifier.polling.poller import Poller, PollOptions, PollTarget
from notifier.polling.sweep import Sweeper, SweepOptions, finding
from notifier.simulator import Simulator, start_simulator
from notifier.simulator.state import JobStore
from notifier.store.db import Store

KEY = "sweep-test-key"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EXTRACT = PollTarget(name="extract_v2", source="extract_v2", scope="")
OPTIONS = SweepOptions(
    every=timedelta(hours=1), lookback=timedelta(days=1), slices=4, jobs_per_slice=1
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Rig:
    def __init__(self, sim: Simulator, store: Store, clock: Clock, client: LlamaCloudClient):
        self.sim, self.store, self.clock, self.client = sim, store, clock, client
        self.poller = Poller(
            client,
            store,
            [Rule("all", When(), ("hook",))],
            PollOptions(lookback=timedelta(days=1)),
            clock=clock,
        )

    def sweeper(self) -> Sweeper:
        return Sweeper(self.client, self.store, EXTRACT, OPTIONS, clock=self.clock)

    def create(self, status: str, hours_ago: float) -> str:
        created = self.clock.now - timedelta(hours=hours_ago)
        return self.sim.jobs.create(SourceType.EXTRACT_V2, status, created_at=created).id

    def sweep_requests(self) -> list[dict[str, str]]:
        found = [dict(r["query"]) for r in self.sim.requests]
        self.sim.requests.clear()
        return [q for q in found if "created_at_on_or_before" in q]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = Clock()
    runner, url, sim = await start_simulator(api_key=KEY, jobs=JobStore(clock))
    client = LlamaCloudClient(url, KEY, max_requests_per_second=1000, rng=random.Random(0))
    yield Rig(sim, Store(tmp_path / "n.db"), clock, client)
    await client.close()
    await runner.cleanup()


def test_a_sweep_cares_only_for_what_cycles_cannot_see() -> None:
    """Unknown jobs and finished jobs now in another status; running ones are the cycles'."""
    row = SnapshotRow("extract_v2", "j", "COMPLETED", None, None, None, "t")
    job = Job("extract_v2", "j", "FAILED")
    assert finding(job, None) == "unknown"
    assert finding(job, row) == "COMPLETED -> FAILED"
    assert finding(Job("extract_v2", "j", "COMPLETED"), row) is None
    running = SnapshotRow("extract_v2", "j", "RUNNING", None, None, None, "t")
    assert finding(Job("extract_v2", "j", "COMPLETED"), running) is None


async def test_what_a_sweep_finds_the_next_cycle_announces_once(rig: Rig) -> None:
    """A finished job re-run to another finished status between cycles, and a job that turned
    up late already finished: the sweep's first slice finds both, the next cycle re-reads
    them by id and announces each once."""
    rerun = rig.create("COMPLETED", hours_ago=2)
    for hours in (10, 20):
        rig.create("COMPLETED", hours_ago=hours)
    rig.create("COMPLETED", hours_ago=0)  # the newest job sets the watermark
    await rig.poller.poll(EXTRACT)  # baseline: 4 jobs, so 4 slices of 1

    rig.clock.now += timedelta(seconds=30)
    rig.sim.jobs.set_status(rerun, "FAILED", "second run failed")
    late = rig.create("COMPLETED", hours_ago=3)
    cheap = await rig.poller.poll(EXTRACT)
    assert cheap.events == []  # neither is visible to the cheap path
    rig.sim.requests.clear()

    wait = await rig.sweeper().step()  # starts its pass and sweeps the newest slice at once
    assert wait == 15 * 60  # the next of 4 slices is due 1 h / 4 later
    (query,) = rig.sweep_requests()
    assert query["created_at_on_or_before"] == "2026-11-23T12:00:30.000000Z"
    assert query["created_at_on_or_after"] == "2026-11-23T06:00:30.000000Z"
    assert sorted(rig.store.sweeps.rechecks("extract_v2", "")) == sorted([rerun, late])

    found = await rig.poller.poll(EXTRACT)
    assert {(e.job_id, e.from_status, e.to_status) for e in found.events} == {
        (rerun, "COMPLETED", "FAILED"),
        (late, None, "COMPLETED"),
    }
    assert rig.store.sweeps.rechecks("extract_v2", "") == []
    again = await rig.poller.poll(EXTRACT)
    assert again.events == []


async def test_a_pass_takes_sweep_every_and_resumes_after_a_restart(rig: Rig) -> None:
    """Four slices, one every 15 minutes; each new Sweeper continues where the last stopped;
    the pass ends with its duration recorded, and the next starts an hour after the last
    began."""
    for hours in (1, 7, 13, 19):
        rig.create("COMPLETED", hours_ago=hours)
    await rig.poller.poll(EXTRACT)
    first = rig.sweeper()
    assert await first.step() == 15 * 60  # slice 1 at once, slice 2 in 15 minutes
    assert await first.step() == 15 * 60  # not due yet: nothing listed
    for _ in range(3):
        rig.clock.now += timedelta(minutes=15)
        await rig.sweeper().step()  # as after a restart
    position = rig.store.sweeps.position("extract_v2", "")
    assert not position.running and position.passes == 1
    assert position.jobs == 4 and position.found == 0
    assert position.last_pass_seconds == 45 * 60
    slices = rig.sweep_requests()
    assert len(slices) == 4
    assert slices[-1]["created_at_on_or_after"] == "2026-11-22T12:00:00.000000Z"  # T0 - lookback
    assert await rig.sweeper().step() == 15 * 60  # one pass per hour: the next at 13:00
    rig.clock.now += timedelta(minutes=15)
    await rig.sweeper().step()
    assert rig.store.sweeps.position("extract_v2", "").running


async def test_a_small_window_is_swept_in_few_slices(rig: Rig) -> None:
    """Slices follow the jobs the window holds: two jobs at one per slice make two slices,
    and the next pass is sized by what the last one listed."""
    for hours in (3, 9):
        rig.create("COMPLETED", hours_ago=hours)
    await rig.poller.poll(EXTRACT)
    sweeper = rig.sweeper()
    assert await sweeper.step() == 30 * 60  # 1 h in 2 slices
    assert rig.store.sweeps.position("extract_v2", "").slices == 2
    rig.clock.now += timedelta(minutes=30)
    await sweeper.step()  # the last slice: the pass ends
    rig.create("COMPLETED", hours_ago=1)
    rig.clock.now += timedelta(minutes=30)
    await sweeper.step()  # the next pass: sized by the 2 jobs the last one listed
    position = rig.store.sweeps.position("extract_v2", "")
    assert position.running and position.passes == 1 and position.slices == 2


async def test_no_sweep_before_the_baseline(rig: Rig) -> None:
    """Until a scope's first complete listing, there is nothing to sweep against."""
    assert await rig.sweeper().step() == 5.0
    assert list(rig.sim.requests) == []
