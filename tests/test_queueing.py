"""core.queueing: every reason a route is queued, delayed or not sent, as a record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.core.models import OutboxState, Route
from notifier.core.mutes import Window
from notifier.core.queueing import Hold, HoldReason, QueueReason, decide_queueing, held_back

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class TestDecideQueueing:
    def test_a_plain_route_is_queued_now(self) -> None:
        """No group, no repeat limit: pending, due at once, nothing to remember."""
        decision = decide_queueing(Route("r", "hook"), now=NOW)
        assert (decision.state, decision.reason, decision.due) == (
            OutboxState.PENDING,
            QueueReason.NOW,
            NOW,
        )
        assert decision.note is None and not decision.announce

    def test_a_repeat_within_the_interval_is_suppressed_with_its_reason(self) -> None:
        """The rule announced this job in this status 10 minutes ago; the window is 1 h."""
        route = Route("r", "ops", repeat_interval=3600)
        decision = decide_queueing(route, now=NOW, last_announced=NOW - timedelta(minutes=10))
        assert decision.state is OutboxState.SUPPRESSED and decision.reason is QueueReason.REPEAT
        assert decision.note == "repeat within 3600s of 2026-11-23T09:50:00.000000Z"
        assert not decision.announce

    def test_a_repeat_after_the_interval_is_sent_and_announced(self) -> None:
        """Past the window (or never announced), the row goes and becomes the last announcement."""
        route = Route("r", "ops", repeat_interval=60)
        for last in (None, NOW - timedelta(minutes=2)):
            decision = decide_queueing(route, now=NOW, last_announced=last)
            assert decision.state is OutboxState.PENDING and decision.announce

    def test_a_group_waits_group_wait(self) -> None:
        """A new group is due group_wait after its first event."""
        route = Route("r", "ops", group_key="r|status=FAILED", group_wait=30, group_interval=300)
        decision = decide_queueing(route, now=NOW)
        assert decision.reason is QueueReason.GROUP_WAIT
        assert decision.due == NOW + timedelta(seconds=30)

    def test_a_group_that_just_went_out_waits_its_interval(self) -> None:
        """The group's last message left 1 min ago: the next waits until 5 min after it."""
        route = Route("r", "ops", group_key="g", group_wait=30, group_interval=300)
        decision = decide_queueing(route, now=NOW, group_last_sent=NOW - timedelta(minutes=1))
        assert decision.reason is QueueReason.GROUP_INTERVAL
        assert decision.due == NOW + timedelta(minutes=4)

    def test_a_suppressed_repeat_is_not_grouped(self) -> None:
        """Suppression wins: the row is recorded, never waits for its group."""
        route = Route("r", "ops", group_key="g", group_wait=30, repeat_interval=3600)
        decision = decide_queueing(route, now=NOW, last_announced=NOW)
        assert decision.state is OutboxState.SUPPRESSED and decision.due == NOW


class TestHeldBack:
    def test_ad_hoc_mutes_name_kind_name_and_end(self) -> None:
        """`notifier mute --rule` and `--channel` hold rows back until their end."""
        until = "2026-11-23T11:00:00.000000Z"
        assert held_back([], [("rule", "r", until)], "r", "ops", NOW) == Hold(
            HoldReason.RULE_MUTED, "r", until
        )
        hold = held_back([], [("channel", "ops", until)], "other", "ops", NOW)
        assert hold is not None and str(hold) == f"muted: channel 'ops' until {until}"
        assert held_back([], [("channel", "email", until)], "r", "ops", NOW) is None

    def test_a_window_holds_only_while_active(self) -> None:
        """A 09:00-11:00 UTC window on Mondays holds at 10:00 on Monday, not on Tuesday."""
        window = Window(
            "office", frozenset({"r"}), frozenset(), frozenset({"mon"}), "09:00", "11:00", "UTC"
        )
        hold = held_back([window], [], "r", "ops", NOW)
        assert hold is not None and hold.reason is HoldReason.WINDOW
        assert str(hold) == "muted: window 'office' (09:00-11:00 UTC)"
        assert held_back([window], [], "r", "ops", NOW + timedelta(days=1)) is None
