"""Why a transition is sent, held, or not sent: every such decision, with its reason.

Two moments decide. When a cycle records an event, `decide_queueing` says for each route
whether its outbox row is queued now, waits for its group, or is suppressed as a repeat.
When the row is due, `held_back` says whether a mute holds it. The store reads the facts
these functions take and persists what they return; the reason lands in the outbox row
(`state`, `last_error`), so `notifier deliveries` shows it.

Pure: `now` is a parameter, nothing here reads the clock or the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from notifier.core.models import OutboxState, Route
from notifier.core.mutes import Window
from notifier.core.timestamps import format_ts


class QueueReason(StrEnum):
    """Why an outbox row got the state and due time it has."""

    NOW = "now"  # a plain route: sent as soon as the worker gets to it
    GROUP_WAIT = "group_wait"  # waits group_wait to travel with others of its group
    GROUP_INTERVAL = "group_interval"  # waits until group_interval after the group's last
    REPEAT = "repeat"  # the rule announced this job in this status within repeat_interval


@dataclass(frozen=True, slots=True)
class Queueing:
    """The decision for one route of one event.

    `announce`: the rule now counts as having announced this job in this status (what the
    next `repeat_interval` check compares with).
    """

    state: OutboxState
    reason: QueueReason
    due: datetime
    note: str | None = None
    announce: bool = False


def decide_queueing(
    route: Route,
    *,
    now: datetime,
    last_announced: datetime | None = None,
    group_last_sent: datetime | None = None,
) -> Queueing:
    """Queue, group or suppress one route, from what the store knows.

    `last_announced`: when the route's rule last announced this job in this status (only
    read for rules with a `repeat_interval`). `group_last_sent`: when the route's group last
    went out on its channel (only read for grouped routes).
    """
    announce = False
    if route.repeat_interval is not None:
        window = timedelta(seconds=route.repeat_interval)
        if last_announced is not None and now - last_announced < window:
            return Queueing(
                OutboxState.SUPPRESSED,
                QueueReason.REPEAT,
                now,
                note=f"repeat within {route.repeat_interval:g}s of {format_ts(last_announced)}",
            )
        announce = True
    if route.group_key is None:
        return Queueing(OutboxState.PENDING, QueueReason.NOW, now, announce=announce)
    due, reason = now + timedelta(seconds=route.group_wait), QueueReason.GROUP_WAIT
    if group_last_sent is not None:
        spaced = group_last_sent + timedelta(seconds=route.group_interval)
        if spaced > due:
            due, reason = spaced, QueueReason.GROUP_INTERVAL
    return Queueing(OutboxState.PENDING, reason, due, announce=announce)


class HoldReason(StrEnum):
    """Why a due row is not sent now."""

    RULE_MUTED = "rule"  # `notifier mute --rule`
    CHANNEL_MUTED = "channel"  # `notifier mute --channel`
    WINDOW = "window"  # a recurring `mutes:` window of the configuration


@dataclass(frozen=True, slots=True)
class Hold:
    """A mute that holds a row back; `str()` is the text recorded in the row."""

    reason: HoldReason
    name: str
    detail: str

    def __str__(self) -> str:
        if self.reason is HoldReason.WINDOW:
            return f"muted: window {self.name!r} ({self.detail})"
        return f"muted: {self.reason.value} {self.name!r} until {self.detail}"


def held_back(
    windows: Sequence[Window],
    stored: Sequence[tuple[str, str, str]],
    rule: str,
    channel: str,
    now: datetime,
) -> Hold | None:
    """The mute that holds a delivery of `rule` to `channel` now, or None to send it.

    `stored` holds the ad-hoc mutes of `notifier mute` as (kind, name, until), still active.
    """
    for kind, name, until in stored:
        if (kind == "rule" and name == rule) or (kind == "channel" and name == channel):
            return Hold(HoldReason(kind), name, until)
    for window in windows:
        if window.covers(rule, channel) and window.active(now):
            return Hold(
                HoldReason.WINDOW, window.name, f"{window.start}-{window.end} {window.timezone}"
            )
    return None


def muted_by(
    windows: Sequence[Window],
    stored: Sequence[tuple[str, str, str]],
    rule: str,
    channel: str,
    now: datetime,
) -> str | None:
    """`held_back` as the text the outbox row records, or None."""
    hold = held_back(windows, stored, rule, channel, now)
    return None if hold is None else str(hold)
