"""Pure decisions about listings: whether a listing has come newest first (so discovery may
stop early), what a cheap cycle lists to see what changed, and how far a baseline is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.core.models import Job
from notifier.core.timestamps import parse_ts


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
    """

    by_status: tuple[str, ...]
    probe: str | None


def plan_refresh(
    known_by_status: Mapping[str, int], non_terminal: Sequence[str], *, batch: int, turn: int
) -> RefreshPlan:
    """List a status when its known jobs fill an id batch (the listing then costs what their
    ids would); fewer ride in the one batch of leftover ids, and the other statuses are
    probed one a cycle, by `turn`."""
    listed = tuple(s for s in non_terminal if known_by_status.get(s, 0) >= batch)
    rest = [s for s in non_terminal if s not in listed]
    return RefreshPlan(listed, rest[turn % len(rest)] if rest else None)


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
