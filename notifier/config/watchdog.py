"""The `watchdog` section: the notifier's own troubles, routed to channels of their own."""

from __future__ import annotations

import difflib
from datetime import timedelta

from pydantic import field_validator

from notifier.config.base import ConfigModel, Duration, field_error


class WatchdogConfig(ConfigModel):
    """Off until `notify` names a channel (README, "The notifier tells on itself")."""

    notify: list[str] = []
    source_failing_for: Duration = timedelta(minutes=10)
    outbox_older_than: Duration = timedelta(minutes=15)
    channel_dead: bool = True
    store_errors: bool = True
    send_resolved: bool = True
    check_every: Duration = timedelta(seconds=30)

    @field_validator("notify")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("names a channel twice")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.notify)


def check_watchdog(watchdog: WatchdogConfig, channels: set[str]) -> None:
    """Every channel the watchdog notifies exists."""
    for position, channel in enumerate(watchdog.notify):
        if channel not in channels:
            close = difflib.get_close_matches(channel, sorted(channels), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise field_error(f"watchdog.notify[{position}]", f"unknown channel {channel!r}{hint}")
