"""Recurring mute windows ("nights and weekends, Berlin time"): is one active now?

Whether a mute holds a delivery back is decided in `core.queueing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Window:
    """Mutes `rules` and `channels` on `days` from `start` to `end` (HH:MM, local to `timezone`).

    A window whose end is before its start runs over midnight (22:00-07:00); its days are the
    days it starts on.
    """

    name: str
    rules: frozenset[str]
    channels: frozenset[str]
    days: frozenset[str]
    start: str
    end: str
    timezone: str

    def covers(self, rule: str, channel: str) -> bool:
        return rule in self.rules or channel in self.channels

    def active(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        start, end = _minutes(self.start), _minutes(self.end)
        today = DAYS[local.weekday()]
        yesterday = DAYS[(local.weekday() - 1) % 7]
        if start <= end:
            return today in self.days and start <= minute < end
        return (today in self.days and minute >= start) or (yesterday in self.days and minute < end)


def _minutes(clock: str) -> int:
    hours, _, minutes = clock.partition(":")
    return int(hours) * 60 + int(minutes)
