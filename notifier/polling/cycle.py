"""One cycle's jobs as they arrive: diffed against the snapshot and committed in parts, the
scope's state (watermark, cycle count, frontier) with the last part."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import structlog

from notifier.core.diff import diff_job
from notifier.core.listings import BaselineProgress
from notifier.core.models import Event, Job, Route, SnapshotRow
from notifier.core.rules import MatchFailure, route
from notifier.core.timestamps import format_ts
from notifier.store.codec import ScopeView

if TYPE_CHECKING:  # the poller builds cycles; a cycle only reads its options and clock
    from notifier.polling.poller import Poller, PollTarget

log = structlog.get_logger("notifier.polling.poller")


@dataclass(slots=True)
class CycleResult:
    """What a cycle did, for logs, metrics and tests."""

    target: str
    observed: int = 0
    written: int = 0
    events: list[Event] = field(default_factory=list)
    queued: int = 0
    requests: int = 0


FLUSH_AT = 1000
"""Jobs a cycle holds before committing them: a baseline over a large lookback window
streams through memory in parts of this size instead of holding the whole window."""


class Cycle:
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
        self.detected_by = "poll"  # "push": a native webhook's hint asked for this re-read
        self.slice_listings = False  # long status listings in slices (`slicing_pays`)

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
        """The page reaches below the watermark, and what it holds below it is all in the
        snapshot and at least half the page: newest first, the rest of the overlap is known.

        The jobs above the watermark are new by definition and already on this page, so they
        need no second page of known ones behind them (a busy cycle cost two pages of
        discovery for that). The last discovery's frontier answers for the jobs just below
        the watermark; a page reaching further down is looked up (rows kept for the diff).
        """
        if not page or watermark is None:
            return False
        old = [job for job in page if (job.created_at or "") < watermark]
        if 2 * len(old) < len(page):
            return False
        unsure = [j for j in old if j.job_id not in self.frontier and j.job_id not in self.known]
        if unsure:
            self._look_up(job.job_id for job in unsure)
        return all(job.job_id in self.known or job.job_id in self.frontier for job in old)

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

    def finish(self, *, advance: bool = True) -> CycleResult:
        """Commit the last part, with the scope's state unless `advance` is False (a hint's
        re-read moves neither the watermark nor the cycle count); the cycle's result."""
        self._commit(final=advance)
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
        failures: list[MatchFailure] = []
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
                if self.detected_by != event.detected_by:
                    event = replace(event, detected_by=self.detected_by)
                routed.append((event, route(event, self.poller.rules, failures)))
        _log_match_failures(self.target.key, failures)
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
        # What this part held is read back if it shows up again (a long listing's later part),
        # so memory stays bounded by one part and the diff never meets a stale row.
        for job_id in self.pending:
            self.known.pop(job_id, None)
            self._absent.discard(job_id)
        self.result.observed += len(self.pending)
        self.result.written += len(rows)
        self.result.events.extend(event for event, _ in routed)
        self.result.queued += queued
        self.pending = {}


def _log_match_failures(scope: str, failures: Sequence[MatchFailure]) -> None:
    """A `when.match` that failed for some events: one warning per rule and error, with a
    count, so a rule that fails for thousands of jobs is one line a cycle, not thousands."""
    seen: dict[tuple[str, str], list[MatchFailure]] = {}
    for failure in failures:
        seen.setdefault((failure.rule, failure.error), []).append(failure)
    for (rule, error), group in seen.items():
        log.warning(
            "match_failed",
            source=scope,
            rule=rule,
            error=error,
            events=len(group),
            job_id=group[0].job_id,
            treated_as="not matching",
        )
