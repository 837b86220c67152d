"""One cheap cycle of one scope: read its view, fetch what may have changed, diff, commit once.

A v2 cycle lists the jobs created since its watermark (discovery), the non-terminal
statuses over the lookback window (which re-read the running jobs and find re-runs and late
arrivals), and by id what else it knows to be running or its sweep found changed. The whole
window is re-listed beside the cycles, never inside them, by `sweep.Sweeper`. The store is
read once at the start (`Store.scope_view`) and written once at the end; while the cycle
fetches, it asks the store nothing unless a page holds jobs it cannot place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from notifier.core.diff import diff_job
from notifier.core.listings import BaselineProgress, NewestFirst, plan_refresh
from notifier.core.models import Event, Job, Route, SnapshotRow
from notifier.core.rules import Rule, route
from notifier.core.statuses import STATUSES, SourceType, is_terminal
from notifier.core.timestamps import format_ts, parse_ts
from notifier.llamacloud.budget import Spend, spending
from notifier.llamacloud.client import LlamaCloudClient
from notifier.llamacloud.sources import JobIdsEncoding, iter_v2_by_ids, list_v1, list_v2
from notifier.store.db import ScopeView, Store

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


# A probe listing goes only when the budget holds this many tokens with nobody waiting: at
# a tight budget the refresh of running jobs comes first and the probe waits a cycle.
PROBE_RESERVE = 2.0


@dataclass(slots=True)
class CycleResult:
    """What a cycle did, for logs, metrics and tests."""

    target: str
    observed: int = 0
    written: int = 0
    events: list[Event] = field(default_factory=list)
    queued: int = 0
    requests: int = 0


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
        self.baselines: dict[str, BaselineProgress] = {}  # by target key, while they run
        self._probe_turns: dict[str, int] = {}

    async def poll(self, target: PollTarget) -> CycleResult:
        """One cycle. Raises the client's errors after recording them for the status page."""
        started = self.clock()
        requests_before = self.client.requests_sent
        v2 = target.source in V2_SOURCES
        view = self.store.scope_view(target.name, target.source, target.scope)
        state = view.state
        cycle = _Cycle(
            self,
            target,
            view,
            notify_new=state.baseline_done or self.options.initial_sync == "notify",
            ceiling=format_ts(started),
        )
        baseline = not state.baseline_done
        if baseline:
            cycle.progress = self.baselines.setdefault(
                target.key, BaselineProgress(started, self.options.lookback)
            )
        try:
            with spending(Spend.BASELINE if baseline else Spend.CYCLE, target.key):
                if v2:
                    await self._fetch_v2(cycle, state.watermark, started)
                else:
                    cycle.add(await self._fetch_v1(target))
            result = cycle.finish()
        except Exception as exc:
            self.store.record_poll_failure(
                name=target.name, scope=target.scope, now=format_ts(self.clock()), error=str(exc)
            )
            raise
        self.baselines.pop(target.key, None)
        result.requests = self.client.requests_sent - requests_before
        if not cycle.notify_new:
            cycle.log.info("baseline_recorded", jobs=result.observed)
        if result.queued and self.on_queued is not None:
            self.on_queued()
        return result

    async def _fetch_v2(self, cycle: _Cycle, watermark: str | None, now: datetime) -> None:
        """Discovery since the watermark (minus overlap), then the refresh.

        The first cycle (no watermark yet) lists the whole lookback window: that listing is
        the baseline, and it re-reads everything the refresh would.
        """
        known = parse_ts(watermark)
        since = now - self.options.lookback if known is None else known - self.options.overlap
        await self._discover(cycle, since, watermark, cheap=known is not None)
        await self._refresh(cycle, now, listings=known is not None)

    async def _discover(
        self, cycle: _Cycle, since: datetime, watermark: str | None, *, cheap: bool
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
                    # Newest first: past the watermark, a page of nothing but known jobs means
                    # the rest of the overlap is known too. Late arrivals older than this are
                    # found by the status listings (if running) or the sweep (if finished).
                    break

    async def _refresh(self, cycle: _Cycle, now: datetime, *, listings: bool) -> None:
        """Status listings over the lookback window, then by id what is still unseen."""
        target = cycle.target
        if listings:
            statuses = STATUSES[SourceType(target.source)]
            known: dict[str, int] = {}
            for row in cycle.active.values():
                known[row.status] = known.get(row.status, 0) + 1
            turn = self._probe_turns.get(target.key, 0)
            plan = plan_refresh(
                known,
                [s for s in statuses if not is_terminal(s)],
                batch=self.options.job_ids_batch,
                turn=turn,
            )
            low = format_ts(now - self.options.lookback)
            listed = list(plan.by_status)
            if plan.probe is not None and self.client.budget.available() >= PROBE_RESERVE:
                listed.append(plan.probe)
                self._probe_turns[target.key] = turn + 1
            for status in listed:
                async for page in self._list(target, status=status, low=low):
                    cycle.add(page, fresher=False)
        if not cycle.unseen_active:
            return
        # What left the listed statuses, what is in none of them, and the sweep's findings.
        async for page in iter_v2_by_ids(
            self.client,
            target.source,
            sorted(cycle.unseen_active),
            project_id=target.project_id,
            encoding=self.job_ids_encoding,
            batch_size=self.options.job_ids_batch,
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
            log=log,
        )

    async def _fetch_v1(self, target: PollTarget) -> list[Job]:
        """v1 endpoints have no filters: the agent's whole listing, diffed whole."""
        if target.extraction_agent_id is None:
            raise ValueError(f"source {target.name!r} needs an extraction_agent_id")
        return await list_v1(
            self.client, target.source, extraction_agent_id=target.extraction_agent_id, log=log
        )


FLUSH_AT = 1000
"""Jobs a cycle holds before committing them: a baseline over a large lookback window
streams through memory in parts of this size instead of holding the whole window."""


class _Cycle:
    """The jobs of one cycle as they arrive: diffed and committed in parts, the scope's state
    (watermark, cycle count) last. An ordinary cycle fits in one part, one transaction."""

    def __init__(
        self,
        poller: Poller,
        target: PollTarget,
        view: ScopeView,
        *,
        notify_new: bool,
        ceiling: str,
    ) -> None:
        self.poller = poller
        self.store = poller.store
        self.target = target
        self.active = view.active
        # Snapshot rows the cycle has read: what it diffs against without another query.
        self.known: dict[str, SnapshotRow] = dict(view.active)
        self.frontier = view.frontier  # in the snapshot, by the last discovery
        self.discovered: list[str] = []  # the newest jobs this discovery listed, in order
        self.frontier_size = 2 * poller.options.page_size
        self.notify_new = notify_new
        self.ceiling = ceiling
        self.pending: dict[str, Job] = {}
        self.newest: str | None = None
        self.undated = False  # a job without created_at was seen
        self.result = CycleResult(target=target.key)
        # Known running jobs and the sweep's findings: what a v2 refresh re-reads by id if no
        # listing returns them; shrinks as pages arrive.
        self.rechecks = view.rechecks
        self.unseen_active = set(view.active) | set(view.rechecks)
        self.progress: BaselineProgress | None = None
        self.log = log.bind(source=target.name, scope=target.scope or None)
        self._absent: set[str] = set()  # looked up, not in the snapshot

    def add(self, jobs: Iterable[Job], *, fresher: bool = True) -> None:
        """Take a page; `fresher=False` keeps a version already held (a refresh listing's
        view of a job discovery returned is not newer than discovery's)."""
        jobs = list(jobs)
        if self.progress is not None:
            self.progress.pages += 1
            self.progress.jobs += len(jobs)
            dated = [job.created_at for job in jobs if job.created_at]
            if dated and (self.progress.oldest is None or min(dated) < self.progress.oldest):
                self.progress.oldest = min(dated)
        for job in jobs:
            if fresher:
                self.pending[job.job_id] = job
            else:
                self.pending.setdefault(job.job_id, job)
            self.unseen_active.discard(job.job_id)
            if not job.created_at:
                self.undated = True
            elif self.newest is None or job.created_at > self.newest:
                self.newest = job.created_at
        if len(self.pending) >= FLUSH_AT:
            self._commit(final=False)

    def known_and_old(self, page: list[Job], watermark: str | None) -> bool:
        """Every job of the page is in the snapshot and the page reaches below the watermark.

        The last discovery's frontier answers for the jobs just below the watermark; a page
        reaching further down is looked up (rows kept for the diff).
        """
        if not page or watermark is None:
            return False
        oldest = min((job.created_at or "" for job in page), default="")
        if oldest >= watermark:
            return False
        unsure = [j for j in page if j.job_id not in self.frontier and j.job_id not in self.known]
        if not unsure:
            return True
        if any((job.created_at or "") > watermark for job in unsure):
            return False  # newer than anything seen: certainly not in the snapshot
        self._look_up(job.job_id for job in unsure)
        return all(job.job_id in self.known for job in page)

    def note_discovered(self, page: Iterable[Job]) -> None:
        """Remember the newest jobs discovery listed: the next cycle's frontier."""
        room = self.frontier_size - len(self.discovered)
        if room > 0:
            self.discovered.extend(job.job_id for job in list(page)[:room])

    def active_summary(self) -> list[tuple[str, int, str | None, str | None]]:
        """(status, count, oldest created_at, newest created_at) of the scope's active jobs."""
        by_status: dict[str, list[str | None]] = {}
        for row in self.active.values():
            by_status.setdefault(row.status, []).append(row.created_at)
        summary = []
        for status, created in sorted(by_status.items()):
            dated = [c for c in created if c]
            summary.append(
                (status, len(created), min(dated, default=None), max(dated, default=None))
            )
        return summary

    def _look_up(self, job_ids: Iterable[str]) -> None:
        """Read the snapshot rows of jobs the cycle does not know yet (new jobs have none)."""
        missing = [job_id for job_id in job_ids if job_id not in self.known]
        if missing:
            self.known.update(self.store.load_rows(self.target.source, missing))
            self._absent.update(j for j in missing if j not in self.known)

    def finish(self) -> CycleResult:
        """Commit the last part with the scope's state; the cycle's result."""
        self._commit(final=True)
        return self.result

    def _watermark(self) -> str | None:
        """The newest created_at seen (never past the cycle's start). Jobs the API dates not
        at all date from the cycle's start instead, by the API's clock when its answers say
        what that is (a server behind ours would otherwise filter new jobs out): without a
        watermark every cycle would list the whole lookback window again."""
        if self.newest is not None:
            return min(self.newest, self.ceiling)
        if not self.undated:
            return None
        server = self.poller.client.server_time
        return self.ceiling if server is None else min(self.ceiling, format_ts(server))

    def _commit(self, *, final: bool) -> None:
        now = format_ts(self.poller.clock())
        self._look_up(j for j in self.pending if j not in self._absent)
        previous = self.known
        rows: list[SnapshotRow] = []
        routed: list[tuple[Event, Sequence[Route]]] = []
        for job in self.pending.values():
            row, event = diff_job(
                previous.get(job.job_id),
                job,
                now=now,
                notify_new=self.notify_new,
                stuck_after=self.target.stuck_after,
            )
            if row is not None:
                rows.append(row)
            # A silent baseline that failed part-way may have recorded some jobs already:
            # their changes before the baseline completes stay silent too.
            if event is not None and self.notify_new:
                routed.append((event, route(event, self.poller.rules)))
        if final:
            queued = self.store.commit_cycle(
                name=self.target.name,
                scope=self.target.scope,
                now=now,
                rows=rows,
                events=routed,
                watermark=self._watermark(),
                baseline_done=True,
                frontier=self.discovered or None,
                rechecked=self.rechecks,
                rechecked_source=self.target.source,
            )
        else:
            queued = self.store.commit_jobs(
                scope=self.target.scope, now=now, rows=rows, events=routed
            )
        for event, _ in routed:
            self.log.info(
                "transition",
                type=event.type,
                job_id=event.job_id,
                from_status=event.from_status,
                to_status=event.to_status,
                event_id=event.id,
            )
        # What was written is read back if it shows up again (a long listing's later part),
        # so memory stays bounded by one part and the diff never meets a stale row.
        for row in rows:
            self.known.pop(row.job_id, None)
            self._absent.discard(row.job_id)
        self.result.observed += len(self.pending)
        self.result.written += len(rows)
        self.result.events.extend(event for event, _ in routed)
        self.result.queued += queued
        self.pending = {}
