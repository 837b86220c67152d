"""ISO-8601 timestamps in one canonical UTC text form, so they sort and compare as strings."""

from __future__ import annotations

from datetime import UTC, datetime


def format_ts(moment: datetime) -> str:
    """`2026-11-23T10:00:05.123000Z`: UTC, microseconds, `Z`; naive datetimes count as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    # Built by hand: strftime does not zero-pad years below 1000 on every platform.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond:06d}Z"
    )


def parse_ts(value: object) -> datetime | None:
    """An aware UTC datetime from an API timestamp, or None when it is missing or unreadable.

    Accepts `Z` or `±HH:MM` offsets and any fraction length; a timestamp without an offset is
    taken as UTC, which is what LlamaCloud means by it.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        # Cut or pad the fraction to microseconds: APIs send 1 to 9 digits.
        head, _, rest = text.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        text = f"{head}.{(digits + '000000')[:6]}{rest}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def normalize_ts(value: object) -> str | None:
    """The canonical text of an API timestamp, or None when there is none to read."""
    moment = parse_ts(value)
    return None if moment is None else format_ts(moment)
