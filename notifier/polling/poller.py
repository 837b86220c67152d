"""One cheap cycle of one scope: read its view, fetch what may have changed, diff, commit once.

A v2 cycle lists the jobs created since its watermark (discovery), the non-terminal
statuses over the lookback window (which re-read the running jobs and find re-runs and late
arrivals), and by id what else it knows to be running or its sweep found changed. The whole
window is re-listed beside the cycles, never inside them, by `sweep.Sweeper`. The store is
read once at the start (`Store.scope_view`) and written once at the end; while the cycle
fetches, it asks the store nothing unless a page holds jobs it cannot place.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from notifier.core.listings import (
    BaselineProgress,
    NewestFirst,
    Slice,
    plan_refresh,
    slice_listing,
    slicing_pays,
)
from notifier.core.models import Job
from notifier.core.rules import Rule
from notifier.core.statuses import STATUSES, SourceType, is_terminal
from notifier.core.timestamps import format_ts, parse_ts
from notifier.llamacloud.budget import Spend, spending
from notifier.llamacloud.client import LlamaCloudClient
from notifier.llamacloud.sources import (
    JobIdsEncoding,
    iter_v2_by_ids,
    list_v1,
    list_v2,
    max_pages_for,
)
from notifier.polling.cycle import Cycle, CycleResult
from notifier.store.db import Store

log = structlog.get_logger(__name__)

V2_SOURCES = frozenset({SourceType.EXTRACT_V2.value, SourceType.PARSE_V2.value})


@dataclass(frozen=True, slots=True)
class PollTarget:
    """What one scheduled poll covers: a source in one project (v2) or for one agent (v1)."""

    name: str
    source: str
    scope: str
    project_id: str | None = None
    extraction_agent_id: str | None = None
    statuses: tuple[str, ...] = ()
    configuration_id: str | None = None
    stuck_after: timedelta | None = None

    @property
    def key(self) -> str:
        return f"{self.name}/{self.scope}" if self.scope else self.name


@dataclass(frozen=True, slots=True)
class PollOptions:
    """The polling knobs, as plain values (only the daemon reads settings)."""

    lookback: timedelta = timedelta(days=3)
    overlap: timedelta = timedelta(minutes=5)
    initial_sync: str = "baseline"
    page_size: int = 100
    job_ids_batch: int = 100
    probe_when_idle: bool = True  # False with polling.active_interval: idle cycles stay cheap


class Poller:
    """Runs cycles; every write of a cycle goes through one `Store.commit_cycle` transaction."""

    def __init__(
        self,
        client: LlamaCloudClient,
        store: Store,
        rules: Sequence[Rule],
        options: PollOptions,
        *,
        clock: Callable[[], datetime],
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.rules = list(rules)
        self.options = options
        self.clock = clock
        self.on_queued = on_queued
        self.job_ids_encoding = JobIdsEncoding()
        # A listing still paging past this is an error, not a complete one (sized from the
        # lookback window, not a constant).
        self.max_pages = max_pages_for(options.lookback, options.page_size)
        self.baselines: dict[str, BaselineProgress] = {}  # by target key, while they run
        self._probe_turns: dict[str, int] = {}
        # By target key: (the last cycle's start, its length, the gap before it), on the
        # monotonic clock; whether slicing a long listing pays (`slicing_pays`).
        self._timing: dict[str, tuple[float, float | None, float | None]] = {}
        # One writer per scope: a cycle and a hint's re-read of the same scope never overlap,
        # so neither diffs against a snapshot the other is about to change.
        self._writing: dict[str, asyncio.Lock] = {}

    def _lock(self, target: PollTarget) -> asyncio.Lock:
        return self._writing.setdefault(target.key, asyncio.Lock())

    async def recheck(self, target: PollTarget, job_ids: Sequence[str]) -> CycleResult:
        """Re-read these jobs of a v2 scope by id now, diffed and committed as a cycle's are
        (what a native webhook's hint asks for); the scope's watermark and cycle count stay.
        Nothing is announced before the scope's baseline has completed."""
        async with self._lock(target):
            view = self.store.scope_view(target.name, target.source, target.scope)
            cycle = Cycle(self, target, view, notify_new=True, ceiling=format_ts(self.clock()))
            if not view.state.baseline_done:
                return cycle.result
            cycle.unseen_active = set()
            cycle.detected_by = "push"
            with spending(Spend.HINT, target.key) as tally:
                async for page in iter_v2_by_ids(
                    self.client,
                    target.source,
                    list(dict.fromkeys(job_ids)),
                    project_id=target.project_id,
                    encoding=self.job_ids_encoding,
                    batch_size=self.options.job_ids_batch,
                    max_pages=self.max_pages,
                    log=log,
                ):
                    cycle.add(page)
            result = cycle.finish(advance=False)
            result.requests = tally.requests
        if result.queued and self.on_queued is not None:
            self.on_queued()
        return result

    async def poll(self, target: PollTarget) -> CycleResult:
        """One cycle. Raises the client's errors after recording them for the status page."""
        async with self._lock(target):
            return await self._poll(target)

    async def _poll(self, target: PollTarget) -> CycleResult:
        try:
            return await self._cycle(target)
        except Exception as exc:
            try:
                self.store.record_poll_failure(
                    name=target.name,
                    scope=target.scope,
                    now=format_ts(self.clock()),
                    error=str(exc),
                )
            except Exception as also:  # a store that cannot record it must not hide `exc`
                log.error("poll_failure_not_recorded", source=target.key, error=str(also))
            raise

    async def _cycle(self, target: PollTarget) -> CycleResult:
        begun = time.monotonic()
        last = self._timing.get(target.key)
        self._timing[target.key] = (begun, None, None if last is None else begun - last[0])
        try:
            return await self._timed_cycle(target, last)
        finally:
            _, _, gap = self._timing[target.key]
            self._timing[target.key] = (begun, time.monotonic() - begun, gap)

    async def _timed_cycle(
        self, target: PollTarget, last: tuple[float, float | None, float | None] | None
    ) -> CycleResult:
        started = self.clock()
        slicing = last is not None and slicing_pays(last[1], self._timing[target.key][2])
        v2 = target.source in V2_SOURCES
        view = self.store.scope_view(target.name, target.source, target.scope)
        state = view.state
        cycle = Cycle(
            self,
            target,
            view,
            notify_new=state.baseline_done or self.options.initial_sync == "notify",
            ceiling=format_ts(started),
        )
        cycle.slice_listings = slicing
        baseline = not state.baseline_done
        if baseline:
            cycle.progress = self.baselines.setdefault(
                target.key, BaselineProgress(started, self.options.lookback)
            )
        with spending(Spend.BASELINE if baseline else Spend.CYCLE, target.key) as tally:
            if v2:
                await self._fetch_v2(cycle, state.watermark, started)
            else:
                cycle.add(await self._fetch_v1(target))
        result = cycle.finish()
        self.baselines.pop(target.key, None)
        result.requests = tally.requests
        if not cycle.notify_new:
            cycle.log.info("baseline_recorded", jobs=result.observed)
        if result.queued and self.on_queued is not None:
            self.on_queued()
        return result

    async def _fetch_v2(self, cycle: Cycle, watermark: str | None, now: datetime) -> None:
        """Discovery since the watermark (minus overlap) beside the status listings, then by
        id what no listing returned.

        The listings are independent, so they go side by side (a long one in `created_at`
        slices): a busy scope's cycle takes as long as its longest chain of pages, not as
        long as all of them, and big projects hear of a change about as soon as small ones.
        The first cycle (no watermark yet) lists the whole lookback window: that listing is
        the baseline, and it re-reads everything the refresh would.
        """
        known = parse_ts(watermark)
        since = now - self.options.lookback if known is None else known - self.options.overlap
        cheap = known is not None
        try:
            async with asyncio.TaskGroup() as side_by_side:
                side_by_side.create_task(self._discover(cycle, since, watermark, cheap=cheap))
                if cheap:
                    for status, part in self._status_listings(cycle, now):
                        side_by_side.create_task(self._list_into(cycle, status, part))
        except ExceptionGroup as failed:
            # The first listing's error is the cycle's (the others were cancelled with it):
            # callers and the status page meet the client's own exception, not a group.
            raise failed.exceptions[0] from None
        await self._refresh_by_id(cycle)

    async def _discover(
        self, cycle: Cycle, since: datetime, watermark: str | None, *, cheap: bool
    ) -> None:
        """Jobs created since `since`, newest first, stopping early on the cheap path."""
        target = cycle.target
        for status in target.statuses or (None,):
            order = NewestFirst()
            async for page in self._list(target, status=status, low=format_ts(since)):
                stop = cheap and order.holds(page) and cycle.known_and_old(page, watermark)
                cycle.note_discovered(page)
                cycle.add(page)
                if stop:
                    # Newest first: past the watermark, a page whose older part is known (and
                    # at least half of it) means the rest of the overlap is known too. Late
                    # arrivals older than this are found by the status listings (if running)
                    # or the sweep (if finished).
                    break

    def _status_listings(self, cycle: Cycle, now: datetime) -> list[tuple[str, Slice]]:
        """The non-terminal statuses this cycle lists over the lookback window, each cut into
        `created_at` slices by where its known jobs lie (`plan_refresh`, `slice_listing`)."""
        target = cycle.target
        statuses = STATUSES[SourceType(target.source)]
        created: dict[str, list[str | None]] = {}
        for row in cycle.active.values():
            created.setdefault(row.status, []).append(row.created_at)
        turn = self._probe_turns.get(target.key, 0)
        plan = plan_refresh(
            {status: len(dates) for status, dates in created.items()},
            [s for s in statuses if not is_terminal(s)],
            batch=self.options.job_ids_batch,
            turn=turn,
        )
        low = format_ts(now - self.options.lookback)
        listed = list(plan.by_status)
        # An idle scope of an adaptive daemon only discovers: its cycles must stay cheap,
        # and a re-run there is found by the sweep or a native webhook. The probe is one
        # page and goes whatever the budget holds: at a tight budget a probe that waited
        # for room never went, and a re-run into a quiet status waited for the sweep.
        probing = bool(cycle.active) or self.options.probe_when_idle
        if plan.probe is not None and probing:
            listed.append(plan.probe)
            self._probe_turns[target.key] = turn + 1
        if not cycle.slice_listings:
            return [(status, Slice(low, None)) for status in listed]
        return [
            (status, part)
            for status in listed
            for part in slice_listing(
                created.get(status, []), low=low, page_size=self.options.page_size
            )
        ]

    async def _list_into(self, cycle: Cycle, status: str, part: Slice) -> None:
        async for page in self._list(cycle.target, status=status, low=part.low, high=part.high):
            cycle.add(page, fresher=False)

    async def _refresh_by_id(self, cycle: Cycle) -> None:
        """By id: what left the listed statuses, what is in none of them, and the sweep's
        findings."""
        if not cycle.unseen_active:
            return
        async for page in iter_v2_by_ids(
            self.client,
            cycle.target.source,
            sorted(cycle.unseen_active),
            project_id=cycle.target.project_id,
            encoding=self.job_ids_encoding,
            batch_size=self.options.job_ids_batch,
            max_pages=self.max_pages,
            log=log,
        ):
            cycle.add(page, fresher=False)

    def _list(
        self,
        target: PollTarget,
        *,
        status: str | None,
        low: str | None,
        high: str | None = None,
    ) -> AsyncIterator[list[Job]]:
        return list_v2(
            self.client,
            target.source,
            project_id=target.project_id,
            created_at_on_or_after=low,
            created_at_on_or_before=high,
            status=status,
            configuration_id=target.configuration_id,
            page_size=self.options.page_size,
            max_pages=self.max_pages,
            log=log,
        )

    async def _fetch_v1(self, target: PollTarget) -> list[Job]:
        """v1 endpoints have no filters: the agent's whole listing, diffed whole."""
        if target.extraction_agent_id is None:
            raise ValueError(f"source {target.name!r} needs an extraction_agent_id")
        return await list_v1(
            self.client, target.source, extraction_agent_id=target.extraction_agent_id, log=log
        )
