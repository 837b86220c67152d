"""Requests and CPU per steady-state cycle of an extract_v2 source, the notifier vs a naive poller.

Setup per size: the simulator (own process) holds N finished jobs and 1,000 running ones.
Each measured cycle is preceded by 50 changes: 25 running jobs finish and 25 new jobs start.
The naive poller lists the whole lookback window every cycle and diffs it against the same
kind of snapshot: what a hand-written polling loop does.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.simproc import KEY, SimProcess
from notifier.core.diff import diff_job
from notifier.core.models import Event, Job, Route
from notifier.core.rules import Rule, When
from notifier.core.timestamps import format_ts
from notifier.llamacloud.client import LlamaCloudClient
from notifier.llamacloud.sources import list_v2
from notifier.polling.poller import Poller, PollOptions, PollTarget
from notifier.store.db import Store

TARGET = PollTarget(name="extract_v2", source="extract_v2", scope="")
LOOKBACK = timedelta(days=30)
ACTIVE = 1_000
CHANGES = 50
CYCLES = 5


@dataclass
class Figures:
    terminal: int
    requests: float
    cpu_ms: float
    wall_ms: float
    events: float


def _now() -> datetime:
    return datetime.now(UTC)


class NaivePoller:
    """The obvious loop: list everything in the lookback window, diff, commit."""

    def __init__(self, client: LlamaCloudClient, store: Store) -> None:
        self.client, self.store = client, store

    async def poll(self, target: PollTarget) -> list[Event]:
        since = format_ts(_now() - LOOKBACK)
        jobs: dict[str, Job] = {}
        async for page in list_v2(
            self.client, target.source, project_id=None, created_at_on_or_after=since, page_size=100
        ):
            jobs.update((job.job_id, job) for job in page)
        now = format_ts(_now())
        previous = self.store.load_rows(target.source, jobs.keys())
        rows, events = [], []
        for job in jobs.values():
            row, event = diff_job(previous.get(job.job_id), job, now=now, notify_new=True)
            if row is not None:
                rows.append(row)
            if event is not None:
                events.append((event, [Route("all", "hook")]))
        self.store.commit_cycle(
            name=target.name,
            scope=target.scope,
            now=now,
            rows=rows,
            events=events,
            watermark=None,
            baseline_done=True,
        )
        return [e for e, _ in events]


async def _measure(terminal: int, naive: bool) -> Figures:
    sim = SimProcess()
    try:
        sim.bulk(terminal)
        sim.bulk(ACTIVE, status="RUNNING")
        running = sim.job_ids("RUNNING")
        with tempfile.TemporaryDirectory() as folder:
            store = Store(Path(folder) / "bench.db")
            async with LlamaCloudClient(sim.url, KEY, max_requests_per_second=100_000) as client:
                poller: NaivePoller | Poller
                if naive:
                    poller = NaivePoller(client, store)
                else:
                    poller = Poller(
                        client,
                        store,
                        [Rule("all", When(), ("hook",))],
                        PollOptions(lookback=LOOKBACK),
                        clock=_now,
                    )
                await poller.poll(TARGET)  # baseline, not measured
                rng = random.Random(1)
                requests = cpu = wall = events = 0.0
                for _ in range(CYCLES):
                    for job_id in rng.sample(running, CHANGES // 2):
                        sim.set_status(job_id, "COMPLETED")
                        running.remove(job_id)
                    running += [sim.create() for _ in range(CHANGES // 2)]
                    before = client.requests_sent
                    cpu0, wall0 = time.process_time(), time.perf_counter()
                    result = await poller.poll(TARGET)
                    cpu += time.process_time() - cpu0
                    wall += time.perf_counter() - wall0
                    requests += client.requests_sent - before
                    events += len(result) if isinstance(result, list) else len(result.events)
            store.close()
    finally:
        sim.close()
    return Figures(
        terminal, requests / CYCLES, cpu * 1000 / CYCLES, wall * 1000 / CYCLES, events / CYCLES
    )


def run(sizes: tuple[int, ...] = (1_000, 10_000, 100_000)) -> list[tuple[Figures, Figures]]:
    """(notifier, naive) figures per size."""
    return [
        (asyncio.run(_measure(n, naive=False)), asyncio.run(_measure(n, naive=True))) for n in sizes
    ]


def report(results: list[tuple[Figures, Figures]]) -> str:
    lines = [
        "| finished jobs | notifier requests/cycle | notifier CPU ms/cycle | naive requests/cycle "
        "| naive CPU ms/cycle | events/cycle |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for ours, naive in results:
        lines.append(
            f"| {ours.terminal:,} | {ours.requests:.1f} | {ours.cpu_ms:.1f} | {naive.requests:.1f} "
            f"| {naive.cpu_ms:.1f} | {ours.events:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
