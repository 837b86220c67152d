"""The safety net beside the cheap cycles: a sweep re-lists a scope's lookback window.

What a cheap cycle cannot see (a job that went from one finished status to another between
two cycles, a job that appeared late, already finished, with an old `created_at`), a sweep
finds by listing the whole window again, one `created_at` slice at a time, newest first,
paced so that one pass takes `polling.sweep_every`. Its requests are the budget's lowest
priority and at most `sweep_share` of it, so a cycle never waits behind a sweep.

A sweep writes nothing to the snapshot. A job it sees differ from the snapshot (unknown, or
finished in another status) is recorded as a recheck with the sweep's new position, in one
transaction; the scope's next cycle re-reads it by id and diffs it like any other job. So
the snapshot has one writer per scope, an observation of the sweep can never overwrite a
newer one of a cycle, and a crash loses neither the position nor a finding.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from math import ceil

import structlog

from notifier.core.models import Job, SnapshotRow
from notifier.core.statuses import is_terminal
from notifier.core.timestamps import format_ts, parse_ts
from notifier.llamacloud.budget import Spend, spending
from notifier.llamacloud.client import ApiError, LlamaCloudClient
from notifier.llamacloud.parsing import MalformedResponse
from notifier.llamacloud.sources import list_v2, max_pages_for
from notifier.polling.poller import PollTarget
from notifier.store.db import Store
from notifier.store.sweeps import SweepPosition

log = structlog.get_logger(__name__)

_NOT_YET = 5.0  # seconds between looks while the scope has no baseline
_AFTER_ERROR = 30.0


@dataclass(frozen=True, slots=True)
class SweepOptions:
    every: timedelta = timedelta(hours=6)
    lookback: timedelta = timedelta(days=3)
    slices: int = 48  # the most slices a pass is cut into
    jobs_per_slice: int = 1000
    page_size: int = 100


def finding(job: Job, row: SnapshotRow | None) -> str | None:
    """Why a job a sweep listed needs a cycle's re-read, or None.

    Running jobs are the cycles' to refresh; a sweep cares about what they cannot see.
    """
    if row is None:
        return "unknown"  # appeared late, or was never listed
    if is_terminal(row.status) and job.status != row.status:
        return f"{row.status} -> {job.status}"
    return None


class Sweeper:
    """Sweeps one v2 scope, for ever (until `stop`), one slice per step."""

    def __init__(
        self,
        client: LlamaCloudClient,
        store: Store,
        target: PollTarget,
        options: SweepOptions,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.store = store
        self.target = target
        self.options = options
        self.clock = clock
        self.log = log.bind(source=target.name, scope=target.scope or None)

    async def run(self, stop: asyncio.Event) -> None:
        """Step until stopped; an API error waits a while and the slice is tried again."""
        while not stop.is_set():
            try:
                wait = await self.step()
            except (ApiError, MalformedResponse) as exc:
                self.log.warning("sweep_failed", error=str(exc))
                wait = _AFTER_ERROR
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.0))

    async def step(self) -> float:
        """Start a pass or sweep its next due slice; seconds until the next step is due."""
        target = self.target
        if not self.store.source_state(target.name, target.scope).baseline_done:
            return _NOT_YET
        position = self.store.sweeps.position(target.name, target.scope)
        now = self.clock()
        if not position.running:
            # One pass per `every`: the next starts `every` after the last one started.
            ended = parse_ts(position.last_completed_at)
            if ended is not None and position.last_pass_seconds is not None:
                due = ended - timedelta(seconds=position.last_pass_seconds) + self.options.every
                if now < due:
                    return (due - now).total_seconds()
            position = self._start(position, now)
        started = parse_ts(position.pass_started_at)
        assert started is not None
        gap = self.options.every / max(position.slices, 1)
        due = started + gap * position.slices_done
        if now < due:
            return (due - now).total_seconds()
        position = await self._slice(position)
        if position.slices_done >= position.slices:
            position = self._finish(position)
            return max(0.0, (started + self.options.every - self.clock()).total_seconds())
        return max(0.0, (started + gap * position.slices_done - self.clock()).total_seconds())

    def _slices(self, position: SweepPosition, low: datetime) -> int:
        """A slice per `jobs_per_slice` jobs the window holds (by the last pass, or the
        snapshot before the first), at most `options.slices`: a small project's pass costs a
        request or two, not one a slice."""
        jobs = (
            position.jobs
            if position.passes
            else self.store.count_created_since(self.target.source, format_ts(low))
        )
        return max(1, min(self.options.slices, ceil(jobs / self.options.jobs_per_slice)))

    def _start(self, position: SweepPosition, now: datetime) -> SweepPosition:
        low = now - self.options.lookback
        fresh = replace(
            position,
            pass_started_at=format_ts(now),
            window_low=format_ts(low),
            cursor=format_ts(now),
            slices=self._slices(position, low),
            slices_done=0,
            pages=0,
            jobs=0,
            found=0,
        )
        self.store.sweeps.save(fresh, source=self.target.source)
        self.log.info("sweep_started", window_low=fresh.window_low, slices=fresh.slices)
        return fresh

    async def _slice(self, position: SweepPosition) -> SweepPosition:
        """List one slice of the window, newest first; record its findings and the new cursor."""
        high = parse_ts(position.cursor)
        floor = parse_ts(position.window_low)
        assert high is not None and floor is not None
        remaining = position.slices - position.slices_done
        low = max(floor, high - (high - floor) / max(remaining, 1))
        found: list[tuple[str, str]] = []
        pages = jobs = 0
        with spending(Spend.SWEEP, self.target.key):
            async for page in list_v2(
                self.client,
                self.target.source,
                project_id=self.target.project_id,
                created_at_on_or_after=format_ts(low),
                created_at_on_or_before=format_ts(high),
                configuration_id=self.target.configuration_id,
                page_size=self.options.page_size,
                max_pages=max_pages_for(self.options.lookback, self.options.page_size),
                log=self.log,
            ):
                pages += 1
                jobs += len(page)
                rows = self.store.load_rows(self.target.source, (job.job_id for job in page))
                for job in page:
                    reason = finding(job, rows.get(job.job_id))
                    if reason is not None:
                        found.append((job.job_id, reason))
        moved = replace(
            position,
            cursor=format_ts(low),
            slices_done=position.slices_done + 1,
            pages=position.pages + pages,
            jobs=position.jobs + jobs,
            found=position.found + len(found),
        )
        self.store.sweeps.save(
            moved, source=self.target.source, found=found, now=format_ts(self.clock())
        )
        for job_id, reason in found:
            self.log.info("sweep_found", job_id=job_id, reason=reason)
        return moved

    def _finish(self, position: SweepPosition) -> SweepPosition:
        now = self.clock()
        started = parse_ts(position.pass_started_at)
        assert started is not None
        done = replace(
            position,
            pass_started_at=None,
            passes=position.passes + 1,
            last_completed_at=format_ts(now),
            last_pass_seconds=(now - started).total_seconds(),
        )
        self.store.sweeps.save(done, source=self.target.source)
        self.log.info(
            "sweep_completed",
            pages=done.pages,
            jobs=done.jobs,
            found=done.found,
            seconds=round(done.last_pass_seconds or 0.0, 1),
        )
        return done
