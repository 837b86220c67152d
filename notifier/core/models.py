"""The records that flow through the notifier: observed jobs, snapshot rows, events, routes,
and the states and outcomes of their deliveries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class Job:
    """One job as a list endpoint returned it, with the fields the notifier reasons about.

    `raw` is the object exactly as the API returned it (unknown fields included); the other
    fields are normalised from it by the source adapter. Timestamps are ISO-8601 UTC strings
    (`2026-11-23T10:00:01.000000Z`, sortable as text) or None when the source has none.
    """

    source: str
    job_id: str
    status: str
    project_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    error_message: str | None = None
    name: str | None = None
    configuration_id: str | None = None
    extraction_agent_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """What the store remembers of a job between cycles."""

    source: str
    job_id: str
    status: str
    project_id: str | None
    created_at: str | None
    updated_at: str | None
    status_since: str
    transitions: int = 0
    stuck_notified: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    """A detected transition (`job.status_changed`) or a long stay (`job.stuck`)."""

    id: str
    type: str
    source: str
    job_id: str
    project_id: str | None
    from_status: str | None
    to_status: str
    phase: str
    llamacloud_event: str
    error_message: str | None
    job_created_at: str | None
    job_updated_at: str | None
    detected_at: str
    job: Mapping[str, Any]
    name: str | None = None
    configuration_id: str | None = None
    extraction_agent_id: str | None = None
    # How the notifier saw it: "poll", or "push" when a native webhook's hint led to the
    # re-read that found it (the event and its id are the same either way).
    detected_by: str = "poll"


@dataclass(frozen=True, slots=True)
class Route:
    """One delivery an event needs: to `channel`, because rule `rule` matched first.

    With a `group_key`, the delivery waits `group_wait` seconds (and at least `group_interval`
    after the group's last message) to travel with others of its group in one message. With
    `repeat_interval`, it is suppressed when the rule already announced this job in this
    status that recently.
    """

    rule: str
    channel: str
    group_key: str | None = None
    group_wait: float = 0.0
    group_interval: float = 0.0
    repeat_interval: float | None = None


class OutboxState(StrEnum):
    """Where an outbox row stands. Only `pending` rows are ever sent."""

    PENDING = "pending"  # waiting to be sent (or to be retried)
    DELIVERED = "delivered"  # the target accepted it
    DEAD = "dead"  # gave up: a permanent error, or attempts or age ran out
    SUPPRESSED = "suppressed"  # a repeat within the rule's repeat_interval, recorded unsent
    MUTED = "muted"  # held back by a mute when it was due; `redeliver` sends it


class AttemptResult(StrEnum):
    """What one delivery attempt came to."""

    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"
    MUTED = "muted"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt of one outbox row, for logs and metrics."""

    channel: str
    event_id: str
    result: AttemptResult
    status: int | None = None
    error: str | None = None
