"""Digests: the events of one schedule window summed up in one message instead of one each.

Pure: the edge (`notifier.notices.digests`) decides the windows from the cron schedule and feeds the
window's events from the log; here they are counted, and the digest notice is built under
an id from the rule and the window's end, so the same window is the same notice however
often it is built (after a restart, say) and the outbox records it once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from notifier.core.diff import STUCK
from notifier.core.models import Event
from notifier.core.notices import DIGEST, notice_event, notice_id
from notifier.core.render import iso_ms
from notifier.core.rules import Rule
from notifier.core.timestamps import parse_ts

# What a digest counts, in the order its text names them; phases map onto these.
CATEGORIES = (
    "completed",
    "failed",
    "partial",
    "cancelled",
    "throttled",
    "stuck",
    "running",
    "queued",
    "other",
)
_BY_PHASE = {
    "succeeded": "completed",
    "failed": "failed",
    "partial": "partial",
    "cancelled": "cancelled",
    "throttled": "throttled",
    "running": "running",
    "queued": "queued",
}
ERROR_CHARS = 200
SHOWN_GROUPS = 20


def category(event: Event) -> str:
    """`stuck` for a long stay, else the category of the status's phase."""
    return "stuck" if event.type == STUCK else _BY_PHASE.get(event.phase, "other")


@dataclass(frozen=True, slots=True)
class DigestSpec:
    """A digest rule: its matcher and channels, and when it sums up (a crontab line read in
    `timezone`)."""

    rule: Rule
    schedule: str
    timezone: str = "UTC"
    send_empty: bool = False
    top_errors: int = 3


@dataclass(frozen=True, slots=True)
class DigestWindow:
    """The events detected in (start, end] (UTC store times), shown in `timezone`."""

    rule: str
    start: str
    end: str
    timezone: str = "UTC"
    schedule: str = ""

    @property
    def digest_id(self) -> str:
        return notice_id("dig", self.rule, self.end)


@dataclass(slots=True)
class Tally:
    """Counts of one window: in all, per source, per project, and the commonest errors."""

    total: Counter[str] = field(default_factory=Counter)
    by_source: dict[str, Counter[str]] = field(default_factory=dict)
    by_project: dict[str, Counter[str]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    events: int = 0

    def add(self, event: Event) -> None:
        kind = category(event)
        self.events += 1
        self.total[kind] += 1
        self.by_source.setdefault(event.source, Counter())[kind] += 1
        self.by_project.setdefault(event.project_id or "(none)", Counter())[kind] += 1
        if kind == "failed" and event.error_message:
            self.errors[" ".join(event.error_message.split())[:ERROR_CHARS]] += 1


def counts_text(counts: Counter[str]) -> str:
    """`1,234 completed, 12 failed, 40 throttled, 2 stuck` (categories with none left out)."""
    parts = [f"{counts[name]:,} {name}" for name in CATEGORIES if counts[name]]
    return ", ".join(parts) or "no events"


def _local(value: str, zone: str) -> str:
    moment = parse_ts(value)
    assert moment is not None
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _ordered(counts: Counter[str]) -> dict[str, int]:
    return {name: counts[name] for name in CATEGORIES if counts[name]}


def _groups(title: str, groups: dict[str, Counter[str]]) -> list[str]:
    ranked = sorted(groups.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    lines = [f"{title}:"] + [f"  {name}: {counts_text(c)}" for name, c in ranked[:SHOWN_GROUPS]]
    if len(ranked) > SHOWN_GROUPS:
        lines.append(f"  ... and {len(ranked) - SHOWN_GROUPS} more")
    return lines


def build_digest(
    window: DigestWindow, tally: Tally, *, top_errors: int = 3, send_empty: bool = False
) -> Event | None:
    """The digest notice of a window, or None for an empty window nobody asked to hear of."""
    if tally.events == 0 and not send_empty:
        return None
    start, end = _local(window.start, window.timezone), _local(window.end, window.timezone)
    headline = counts_text(tally.total)
    top = tally.errors.most_common(top_errors)
    lines = [
        f"Digest {window.rule}, {start} to {end} {window.timezone}: {headline}"
        f" ({tally.events:,} event{'' if tally.events == 1 else 's'})",
    ]
    if top:
        lines.append(f"Top {len(top)} error{'' if len(top) == 1 else 's'}:")
        lines += [f"  {count:,} x {message}" for message, count in top]
    if tally.events:
        lines += _groups("Per source", tally.by_source) + _groups("Per project", tally.by_project)
    data = {
        "rule": window.rule,
        "schedule": window.schedule,
        "timezone": window.timezone,
        "window_start": iso_ms(window.start),
        "window_end": iso_ms(window.end),
        "events": tally.events,
        "counts": _ordered(tally.total),
        "top_errors": [{"message": message, "count": count} for message, count in top],
        "by_source": {name: _ordered(c) for name, c in sorted(tally.by_source.items())},
        "by_project": {name: _ordered(c) for name, c in sorted(tally.by_project.items())},
    }
    return notice_event(
        type_=DIGEST,
        id_=window.digest_id,
        key=window.rule,
        state="DIGEST",
        at=window.end,
        title=f"[LlamaCloud] {window.rule} {end} {window.timezone}: {headline}",
        text="\n".join(lines),
        data=data,
    )


def local_label(moment: datetime, zone: str) -> str:
    """A time as people of that zone read it (for logs and `check`)."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
