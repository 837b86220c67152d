"""The watchdog's decisions: which of the notifier's own troubles hold now, and which notices
that calls for, each with its reason.

Pure, in the manner of Alertmanager's dedup stage: the facts (source states, channel
health, outbox ages, the last store error) and the clock come in; the troubles that hold
come out, and `decide` compares them with those already announced: a new trouble is
announced once, a trouble that ended is resolved once (Alertmanager's `send_resolved`), a
trouble whose facts are unknown (a channel not heard of since a restart) stays as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from notifier.core.durations import format_duration
from notifier.core.models import Event
from notifier.core.notices import RESOLVED, TROUBLE, notice_event, notice_id
from notifier.core.timestamps import format_ts, parse_ts


class Kind(StrEnum):
    """The troubles the notifier tells on itself."""

    SOURCE_FAILING = "source_failing"
    CHANNEL_DEAD = "channel_dead"
    OUTBOX_STALE = "outbox_stale"
    STORE_ERROR = "store_error"


class Action(StrEnum):
    ANNOUNCE = "announce"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class WatchdogSpec:
    """What the watchdog watches and whom it tells."""

    channels: tuple[str, ...]
    source_failing_for: timedelta = timedelta(minutes=10)
    outbox_older_than: timedelta = timedelta(minutes=15)
    channel_dead: bool = True
    store_errors: bool = True
    store_quiet: timedelta = timedelta(minutes=5)
    send_resolved: bool = True


@dataclass(frozen=True, slots=True)
class SourceFact:
    """A polled scope as the store knows it."""

    key: str  # `extract_v2` or `extract_v2/prj-...`
    last_success_at: str | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class ChannelFact:
    """A channel's last outcome: dead since when (None: its last delivery went through)."""

    dead_since: datetime | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything `troubles` reads; `channels` lacks those not heard of since the start."""

    now: datetime
    started_at: datetime
    sources: Sequence[SourceFact] = ()
    channels: Mapping[str, ChannelFact] = field(default_factory=dict)
    outbox_oldest: Mapping[str, datetime] = field(default_factory=dict)
    store_error_at: datetime | None = None
    store_error: str | None = None


@dataclass(frozen=True, slots=True)
class Trouble:
    """One trouble that holds now, and why."""

    kind: Kind
    subject: str
    summary: str
    since: str

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.subject}"


@dataclass(frozen=True, slots=True)
class OpenTrouble:
    """A trouble announced and not resolved yet (kept in the store across restarts)."""

    key: str
    kind: str
    subject: str
    opened_at: str
    summary: str
    notice_id: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do about one trouble, the notice to send (None: resolve silently), why."""

    action: Action
    key: str
    reason: str
    notice: Event | None
    opened: OpenTrouble | None = None  # for ANNOUNCE: the row to keep until it is resolved


_HTTP = re.compile(r"\bHTTP (\d{3})\b")


def api_trouble(error: str) -> str:
    """The error in the words an operator acts on: 401 key rejected, 402 out of credits..."""
    found = _HTTP.search(error)
    status = int(found.group(1)) if found else None
    if status == 401:
        return "the API key was rejected (HTTP 401)"
    if status == 402:
        return "out of credits (HTTP 402)"
    if status == 403:
        return "access denied (HTTP 403)"
    if status == 429:
        return "rate limited (HTTP 429)"
    if status is not None and status >= 500:
        return f"LlamaCloud server error (HTTP {status})"
    return "unreachable or failing"


def _minutes(span: timedelta) -> str:
    return format_duration(timedelta(seconds=max(60, int(span.total_seconds()) // 60 * 60)))


def troubles(facts: Facts, spec: WatchdogSpec) -> tuple[dict[str, Trouble], set[str]]:
    """The troubles that hold now, and the keys whose facts are unknown (keep them as they are)."""
    now = facts.now
    found: list[Trouble] = []
    unknown: set[str] = set()
    for source in facts.sources:
        if source.last_error is None:
            continue
        succeeded = parse_ts(source.last_success_at)
        since = succeeded or facts.started_at
        if now - since < spec.source_failing_for:
            if succeeded is None:  # never succeeded: failing since before this start, maybe
                unknown.add(f"{Kind.SOURCE_FAILING.value}:{source.key}")
            continue
        found.append(
            Trouble(
                Kind.SOURCE_FAILING,
                source.key,
                f"source {source.key} failing for {_minutes(now - since)}: "
                f"{api_trouble(source.last_error)}; last error: {source.last_error[:300]}",
                format_ts(since),
            )
        )
    if spec.channel_dead:
        for channel in set(spec.channels) | set(facts.channels):
            fact = facts.channels.get(channel)
            if fact is None:
                unknown.add(f"{Kind.CHANNEL_DEAD.value}:{channel}")
            elif fact.dead_since is not None:
                reason = f": {fact.reason[:300]}" if fact.reason else ""
                found.append(
                    Trouble(
                        Kind.CHANNEL_DEAD,
                        channel,
                        f"channel {channel}: deliveries are being dead-lettered{reason}",
                        format_ts(fact.dead_since),
                    )
                )
    for channel, oldest in facts.outbox_oldest.items():
        if now - oldest >= spec.outbox_older_than:
            found.append(
                Trouble(
                    Kind.OUTBOX_STALE,
                    channel,
                    f"channel {channel}: the oldest pending delivery waits for "
                    f"{_minutes(now - oldest)} (over {format_duration(spec.outbox_older_than)})",
                    format_ts(oldest),
                )
            )
    error_at = facts.store_error_at
    if spec.store_errors and error_at is not None and now - error_at < spec.store_quiet:
        found.append(
            Trouble(
                Kind.STORE_ERROR,
                "store",
                f"the store failed: {(facts.store_error or 'error')[:300]}",
                format_ts(error_at),
            )
        )
    return {t.key: t for t in found}, unknown


def decide(
    announced: Mapping[str, OpenTrouble],
    current: Mapping[str, Trouble],
    unknown: Set[str],
    spec: WatchdogSpec,
    now: datetime,
) -> list[Decision]:
    """Announce what is new, resolve what ended, leave the rest: once per trouble."""
    at = format_ts(now)
    decisions: list[Decision] = []
    for key, trouble in sorted(current.items()):
        if key in announced:
            continue
        event_id = notice_id("wdg", key, at)
        notice = notice_event(
            type_=TROUBLE,
            id_=event_id,
            key=key,
            state="FIRING",
            at=at,
            title=f"[notifier] {trouble.summary.split('; last error')[0]}",
            text=f"{trouble.summary}\nsince {trouble.since}",
            data={
                "kind": trouble.kind.value,
                "subject": trouble.subject,
                "status": "firing",
                "since": trouble.since,
                "summary": trouble.summary,
            },
        )
        opened = OpenTrouble(
            key, trouble.kind.value, trouble.subject, at, trouble.summary, event_id
        )
        decisions.append(Decision(Action.ANNOUNCE, key, "new trouble", notice, opened))
    for key, trouble_row in sorted(announced.items()):
        if key in current or key in unknown:
            continue
        resolved: Event | None = None
        if spec.send_resolved:
            resolved = notice_event(
                type_=RESOLVED,
                id_=notice_id("wdr", key, trouble_row.opened_at),
                key=key,
                state="RESOLVED",
                at=at,
                title=f"[notifier] resolved: {trouble_row.summary.split('; last error')[0]}",
                text=f"resolved: {trouble_row.summary}\nopened {trouble_row.opened_at}, "
                f"resolved {at}",
                data={
                    "kind": trouble_row.kind,
                    "subject": trouble_row.subject,
                    "status": "resolved",
                    "since": trouble_row.opened_at,
                    "summary": trouble_row.summary,
                    "trouble_id": trouble_row.notice_id,
                },
            )
        reason = "ended" if resolved is not None else "ended (send_resolved: false)"
        decisions.append(Decision(Action.RESOLVE, key, reason, resolved))
    return decisions
