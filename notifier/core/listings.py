"""Pure decisions about listings: whether a listing has come newest first (so discovery may
stop early), and the cheaper way to re-read the running jobs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from math import ceil

from notifier.core.models import Job


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


class RefreshPlan(Enum):
    """How a cycle re-reads the jobs it knows to be running."""

    BY_IDS = "job_ids"
    BY_STATUS = "status_listings"


def choose_refresh(
    active: int, active_by_status: Mapping[str, int], *, batch: int, page_size: int
) -> RefreshPlan:
    """The cheaper way to refresh `active` jobs, in requests.

    By ids: one request per batch. By status: one listing per non-terminal status within the
    active jobs' created_at window (at least one page each), plus one id batch for the jobs
    that left those statuses since the last cycle.
    """
    by_ids = ceil(active / batch)
    by_status = sum(max(1, ceil(count / page_size)) for count in active_by_status.values()) + 1
    return RefreshPlan.BY_STATUS if by_status < by_ids else RefreshPlan.BY_IDS
