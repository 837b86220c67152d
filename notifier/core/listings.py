"""Pure decisions about listings: whether a listing has come newest first (so discovery may
stop early), what a cheap cycle lists to see what changed, and how far a baseline is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.core.models import Job
from notifier.core.timestamps import format_ts, parse_ts


class NewestFirst:
    """Whether a listing has come newest first so far, as discovery's early stop assumes.

    Only the extract page (001) promises that order; the parse page (003) says nothing. So
    the order is checked, not trusted: every job dated, none newer than the one before, and
    at least two seen.
    """

    def __init__(self) -> None:
        self.last: str | None = None
        self.seen = 0
        self.broken = False

    def holds(self, page: Iterable[Job]) -> bool:
        for job in page:
            if job.created_at is None or (self.last is not None and job.created_at > self.last):
                self.broken = True
            self.last = job.created_at
            self.seen += 1
        return not self.broken and self.seen >= 2


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    """What a cheap cycle lists, besides discovery, to see what changed.

    `by_status`: non-terminal statuses listed over the whole lookback window. Such a listing
    re-reads the known jobs in that status (what their ids would cost) and also finds any job
    that entered it unseen: a finished job re-run, a job that appeared late with an old
    `created_at`. `probe`: one more non-terminal status listed the same way, taking turns
    between cycles, so that re-runs into a status with few known jobs are found too. Known
    jobs in no listed status, and those that left their status, are re-read by id.
    `reason` says which of the two shapes was chosen, for the logs and the tests.
    """

    by_status: tuple[str, ...]
    probe: str | None
    reason: str = ""


def plan_refresh(
    known_by_status: Mapping[str, int], non_terminal: Sequence[str], *, batch: int, turn: int
) -> RefreshPlan:
    """A busy scope (one status's known jobs fill an id batch) lists every non-terminal
    status it knows jobs in, each cycle: the full statuses cost what their ids would, each
    other one page, and a re-run into any of them is found within one cycle; the statuses
    it knows no job in take turns as a one-page probe. A quiet scope lists nothing by
    status: its known jobs ride in one batch of ids, and one status is probed a cycle, by
    `turn`. Either way a re-run into a status is found within as many cycles as the source
    has non-terminal statuses, and usually in the next one."""
    if any(known_by_status.get(s, 0) >= batch for s in non_terminal):
        listed = tuple(s for s in non_terminal if known_by_status.get(s, 0) > 0)
        empty = [s for s in non_terminal if s not in listed]
        probe = empty[turn % len(empty)] if empty else None
        return RefreshPlan(listed, probe, "busy: statuses with known jobs listed, one more probed")
    if not non_terminal:
        return RefreshPlan((), None, "no non-terminal status")
    probe = non_terminal[turn % len(non_terminal)]
    return RefreshPlan((), probe, "quiet: ids in a batch, one status probed by turn")


@dataclass(frozen=True, slots=True)
class Slice:
    """One `created_at` range of a status listing: on or after `low`, on or before `high`
    (None: open-ended, the newest slice, where new jobs land)."""

    low: str
    high: str | None


def slicing_pays(took: float | None, gap: float | None, *, share: float = 0.1) -> bool:
    """Whether a scope's long status listings should be cut into slices this cycle.

    Slices cost about half a request a cycle (the jobs that joined a status since the last
    cycle spill a slice onto one more page), and save the time of all but the longest chain
    of pages. That time adds to every notification's delay, so it matters when a cycle's
    length (`took`, seconds) is a sizable part of the time between two cycles (`gap`): a 2 s
    interval, or a slow API, but not a one-second cycle every 30 s."""
    return took is not None and gap is not None and gap > 0 and took >= share * gap


def slice_listing(
    created: Sequence[str | None], *, low: str, page_size: int, pages_per_slice: int = 3
) -> tuple[Slice, ...]:
    """Cut a long status listing into `created_at` ranges fetched side by side, so that a
    busy scope's cycle takes as long as its longest slice, not as long as all its pages.

    `created`: the known jobs in that status. Each slice but the newest holds exactly
    `pages_per_slice` pages of them, so the slices cost what the whole listing would (the
    newest takes the rest and the jobs that arrive). A bound lies a microsecond after the
    last known job of its slice and is shared by both neighbours (both bounds inclusive):
    whatever precision the API keeps, every job is in one slice or, dated exactly there,
    in both, never in none. Undated jobs would fall between ranges: the listing stays whole.
    """
    per = pages_per_slice * page_size
    if len(created) <= per or not all(created):
        return (Slice(low, None),)
    dated = sorted(c for c in created if c and c > low)
    bounds: list[str] = []
    for last in range(per - 1, len(dated) - 1, per):
        moment = parse_ts(dated[last])
        if moment is None:
            return (Slice(low, None),)
        bound = format_ts(moment + timedelta(microseconds=1))
        if not bounds or bound > bounds[-1]:
            bounds.append(bound)
    edges = [low, *bounds]
    return tuple(Slice(a, b) for a, b in zip(edges, [*bounds, None], strict=True))


@dataclass(slots=True)
class BaselineProgress:
    """A scope's first complete listing, while it runs: for `/readyz` and the status page."""

    started: datetime
    lookback: timedelta
    pages: int = 0
    jobs: int = 0
    oldest: str | None = None  # the oldest created_at listed so far (listings go newest first)

    def fraction(self) -> float | None:
        """How much of the lookback window is listed, by the oldest created_at seen."""
        oldest = parse_ts(self.oldest)
        if oldest is None:
            return None
        covered = (self.started - oldest).total_seconds() / self.lookback.total_seconds()
        return max(0.0, min(1.0, covered))

    def seconds_left(self, now: datetime) -> float | None:
        done = self.fraction()
        if not done:
            return None
        return (now - self.started).total_seconds() * (1 - done) / done
