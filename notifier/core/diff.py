"""Compare what the API shows with what the snapshot remembers, and name what happened.

Pure: the caller passes `now`; nothing here reads the clock, the network or the disk.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

from notifier.core.models import Event, Job, SnapshotRow
from notifier.core.statuses import is_terminal, native_event, phase_of
from notifier.core.timestamps import parse_ts

STATUS_CHANGED = "job.status_changed"
STUCK = "job.stuck"
EVENT_TYPES = (STATUS_CHANGED, STUCK)


def event_id(*parts: object) -> str:
    """A stable id from what identifies an event: a replayed transition cannot mint a new one."""
    digest = hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode())
    return "evt_" + digest.hexdigest()[:24]


def _event(kind: str, job: Job, from_status: str | None, now: str, ident: str) -> Event:
    return Event(
        id=ident,
        type=kind,
        source=job.source,
        job_id=job.job_id,
        project_id=job.project_id,
        from_status=from_status,
        to_status=job.status,
        phase=phase_of(job.status).value,
        llamacloud_event=native_event(job.source, job.status),
        error_message=job.error_message,
        job_created_at=job.created_at,
        job_updated_at=job.updated_at,
        detected_at=now,
        job=job.raw,
        name=job.name,
        configuration_id=job.configuration_id,
        extraction_agent_id=job.extraction_agent_id,
    )


def diff_job(
    previous: SnapshotRow | None,
    job: Job,
    *,
    now: str,
    notify_new: bool,
    stuck_after: timedelta | None = None,
) -> tuple[SnapshotRow | None, Event | None]:
    """The snapshot row to write (None when nothing changed) and the event to emit, if any.

    A first sighting is a transition from null, emitted only when `notify_new` (the source's
    baseline is done, or `initial_sync: notify`). The event id counts the job's transitions,
    so the same change observed again after a crash gets the same id, while a job that goes
    RUNNING -> THROTTLED twice gets two ids.
    """
    if previous is None:
        row = SnapshotRow(
            source=job.source,
            job_id=job.job_id,
            status=job.status,
            project_id=job.project_id,
            created_at=job.created_at,
            updated_at=job.updated_at,
            status_since=now,
        )
        if not notify_new:
            return row, None
        ident = event_id(STATUS_CHANGED, job.source, job.job_id, None, job.status, 0)
        return row, _event(STATUS_CHANGED, job, None, now, ident)

    if previous.status != job.status:
        count = previous.transitions + 1
        row = SnapshotRow(
            source=job.source,
            job_id=job.job_id,
            status=job.status,
            project_id=job.project_id or previous.project_id,
            created_at=job.created_at or previous.created_at,
            updated_at=job.updated_at,
            status_since=now,
            transitions=count,
        )
        ident = event_id(STATUS_CHANGED, job.source, job.job_id, previous.status, job.status, count)
        return row, _event(STATUS_CHANGED, job, previous.status, now, ident)

    if stuck_after is not None and _is_stuck(previous, now, stuck_after):
        ident = event_id(STUCK, job.source, job.job_id, job.status, previous.status_since)
        return replace(previous, stuck_notified=True), _event(
            STUCK, job, previous.status, now, ident
        )
    return None, None


def _is_stuck(row: SnapshotRow, now: str, stuck_after: timedelta) -> bool:
    """A non-terminal stay longer than `stuck_after` that has not been reported yet."""
    if row.stuck_notified or is_terminal(row.status):
        return False
    since, current = parse_ts(row.status_since), parse_ts(now)
    if since is None or current is None:
        return False
    return current - since >= stuck_after
