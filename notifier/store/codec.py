"""What the store hands out: events as JSON of every field (the raw job included), snapshot
rows and scope states decoded from their columns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from notifier.core.models import Event, SnapshotRow

_EVENT_FIELDS = tuple(f.name for f in fields(Event))


def event_to_json(event: Event) -> str:
    """The event as stored: every field, the raw job included (no deep copy, unlike asdict)."""
    body = {name: getattr(event, name) for name in _EVENT_FIELDS}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def event_from_json(text: str) -> Event:
    """The inverse of `event_to_json`."""
    return Event(**json.loads(text))


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers of one polled scope (a source in one project or agent)."""

    name: str
    scope: str
    baseline_done: bool = False
    watermark: str | None = None
    cycles: int = 0
    last_poll_at: str | None = None
    last_success_at: str | None = None
    last_error: str | None = None
    frontier: str | None = None  # JSON: ids of the newest jobs its last discovery listed


@dataclass(frozen=True, slots=True)
class ScopeView:
    """What a cycle knows of its scope before it fetches anything, read once at its start.

    `active`: the non-terminal rows the scope refreshes. `frontier`: the ids of the newest
    jobs the last discovery listed, which this cycle's discovery meets where it stops.
    `rechecks`: what the scope's sweep found differing from the snapshot.
    """

    state: SourceState
    active: dict[str, SnapshotRow]
    frontier: frozenset[str]
    rechecks: tuple[str, ...] = ()  # jobs a sweep found changed: re-read them by id


ROW_COLUMNS = (
    "source, job_id, status, project_id, created_at, updated_at, status_since, transitions, "
    "stuck_notified"
)


def snapshot_row(row: Sequence[Any]) -> SnapshotRow:
    return SnapshotRow(
        source=row[0],
        job_id=row[1],
        status=row[2],
        project_id=row[3],
        created_at=row[4],
        updated_at=row[5],
        status_since=row[6],
        transitions=row[7],
        stuck_notified=bool(row[8]),
    )
