"""Durations as people write them in config files: `500ms`, `30s`, `15m`, `2h`, `3d`, `1h30m`."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from notifier.core.timestamps import format_ts, normalize_ts

_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
# Ten years: longer than any interval, timeout or retention means, and far inside what
# datetime arithmetic (now - lookback, now + repeat_interval) and asyncio timers can hold.
MAX_DURATION = timedelta(days=3650)
_TOO_LONG = "duration too long: at most 3650d (10 years)"


def parse_duration(value: object) -> timedelta:
    """A positive timedelta from `30s`-style text or a number of seconds; ValueError otherwise."""
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 15m or 3d")
    elif isinstance(value, int | float):
        _check_seconds(value)
        result = timedelta(seconds=value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        parts = _PART.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ValueError("invalid duration: use e.g. 500ms, 30s, 15m, 2h, 3d")
        _check_seconds(sum(float(n) * _UNITS[u].total_seconds() for n, u in parts))
        result = sum((float(n) * _UNITS[u] for n, u in parts), timedelta())
    else:
        raise ValueError("expected a duration such as 30s, 15m or 3d")
    if result <= timedelta(0):
        raise ValueError("duration must be positive")
    if result > MAX_DURATION:
        raise ValueError(_TOO_LONG)
    return result


def _check_seconds(seconds: float) -> None:
    """Refuse what timedelta cannot hold (it would raise OverflowError), before building it."""
    if isinstance(seconds, float) and math.isnan(seconds):
        raise ValueError("expected a duration such as 30s, 15m or 3d")
    if seconds <= 0:
        raise ValueError("duration must be positive")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(_TOO_LONG)


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling: `30s`, `15m`, `3d`, `1h30m`, `250ms`."""
    millis = round(value.total_seconds() * 1000)
    if millis % 1000:
        return f"{millis}ms"
    seconds, out = millis // 1000, ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            out += f"{count}{unit}"
    return out or "0s"


def since_timestamp(text: str, now: datetime) -> str:
    """What `--since` and `since=` mean: an ISO time as given, or a duration (`1h`, `3d`) that
    long before `now`. ValueError when it is neither."""
    absolute = normalize_ts(text)
    if absolute is not None:
        return absolute
    return format_ts(now - parse_duration(text))
