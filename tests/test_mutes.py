"""core.mutes: recurring windows in their own time zone, over midnight, and ad-hoc mutes."""

from datetime import UTC, datetime

from notifier.core.mutes import Window
from notifier.core.queueing import muted_by

NIGHTS = Window(
    "nights",
    frozenset({"stuck"}),
    frozenset(),
    frozenset({"mon", "tue"}),
    "22:00",
    "07:00",
    "Europe/Berlin",
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_window_over_midnight_in_its_time_zone() -> None:
    """22:00-07:00 Berlin on Mondays: Monday 23:30 and Tuesday 06:00 are muted, not noon."""
    assert NIGHTS.active(at("2026-11-23T23:30:00+01:00"))  # Monday
    assert NIGHTS.active(at("2026-11-24T06:00:00+01:00"))  # Tuesday early, Monday's night
    assert not NIGHTS.active(at("2026-11-24T12:00:00+01:00"))
    assert not NIGHTS.active(at("2026-11-26T06:00:00+01:00"))  # Thursday: Wednesday not listed
    assert NIGHTS.active(at("2026-11-23T21:30:00+00:00"))  # 22:30 in Berlin


def test_muted_by_names_the_reason() -> None:
    """Ad-hoc mutes and windows both explain themselves; other rules pass."""
    night = at("2026-11-23T23:30:00+01:00")
    assert (
        muted_by([NIGHTS], [], "stuck", "ops", night)
        == "muted: window 'nights' (22:00-07:00 Europe/Berlin)"
    )
    assert muted_by([NIGHTS], [], "failures", "ops", night) is None
    stored = [("channel", "ops", "2026-11-24T00:00:00.000000Z")]
    assert (
        muted_by([], stored, "failures", "ops", night)
        == "muted: channel 'ops' until 2026-11-24T00:00:00.000000Z"
    )
