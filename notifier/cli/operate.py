"""Operator commands that act on a configured notifier: test a channel, mute and unmute.

Library code: raises, returns text; `cli` prints and picks exit codes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from notifier.assemble import build_channels
from notifier.config.models import Settings
from notifier.core import samples
from notifier.core.durations import parse_duration
from notifier.core.models import Event
from notifier.core.timestamps import format_ts
from notifier.errors import UsageError
from notifier.store.db import Store

SAMPLE_RULE = "test-channel"


def sample_event(now: datetime) -> Event:
    """A FAILED extract job that looks real but names itself a test, detected at `now`."""
    stamp = format_ts(now)
    return samples.sample_event(
        id="evt_test" + now.strftime("%Y%m%d%H%M%S%f")[:16],
        job_created_at=stamp,
        job_updated_at=stamp,
        detected_at=stamp,
    )


async def test_channel(settings: Settings, name: str) -> str:
    """Send the sample event through one channel; the target's answer, or DeliveryError."""
    if name not in settings.channels:
        known = ", ".join(settings.channels) or "none"
        raise UsageError(f"no channel named {name!r} (configured: {known})")
    channel = build_channels(
        settings.model_copy(update={"channels": {name: settings.channels[name]}})
    )[name]
    try:
        status = await channel.send(sample_event(datetime.now(UTC)), SAMPLE_RULE)
    finally:
        await channel.close()
    targets = getattr(channel, "targets", None) or [getattr(channel, "target", name)]
    answer = f"HTTP {status}" if status is not None else "accepted"
    return f"channel {name!r}: {answer} from {', '.join(targets)}"


def mute(
    settings: Settings,
    store: Store,
    *,
    rule: str | None,
    channel: str | None,
    duration: str,
    reason: str | None,
) -> str:
    """Record a mute of a rule or a channel for `duration`; deliveries are kept as muted."""
    kind, target = ("rule", rule) if rule is not None else ("channel", channel)
    assert target is not None
    known = {rule_.name for rule_ in settings.rules} if kind == "rule" else set(settings.channels)
    if target not in known:
        raise UsageError(f"no {kind} named {target!r} in the configuration")
    now = datetime.now(UTC)
    try:
        until = format_ts(now + parse_duration(duration))
    except ValueError as exc:
        raise UsageError(f"--for {duration!r}: {exc}") from None
    mute_id = store.mutes.add(
        kind=kind, name=target, until=until, reason=reason, now=format_ts(now)
    )
    return f"muted {kind} {target!r} until {until} (mute {mute_id})"


def list_mutes(store: Store) -> list[str]:
    return [
        f"{mute_id}  {kind} {name!r} until {until}" + (f"  ({reason})" if reason else "")
        for mute_id, kind, name, until, reason in store.mutes.active(format_ts(datetime.now(UTC)))
    ]
