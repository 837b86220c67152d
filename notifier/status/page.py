"""What the daemon knows that the store does not (`LiveView`), and the readiness verdict
that `/readyz` and the dashboard (`status.pages`, `status.views`) share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from notifier.core.timestamps import parse_ts
from notifier.store.db import Store


@dataclass(frozen=True, slots=True)
class BaselineInfo:
    """A scope's first complete listing while it runs (the poller knows it, not the store)."""

    pages: int
    jobs: int
    fraction: float | None  # of the lookback window listed, when the items are dated
    seconds_left: float | None

    def describe(self) -> str:
        text = f"baseline in progress: {self.pages:,} pages, {self.jobs:,} jobs"
        if self.fraction is not None:
            text += f", {self.fraction:.0%} of the lookback window"
        if self.seconds_left is not None:
            text += f", about {self.seconds_left:,.0f}s left"
        return text


@dataclass(frozen=True, slots=True)
class LiveView:
    """What the running daemon holds in memory for the page: baselines, the requests of each
    scope's last cheap cycle, and each scope's share of the budget by purpose."""

    baselines: Mapping[str, BaselineInfo] = field(default_factory=dict)
    cycle_requests: Mapping[str, int] = field(default_factory=dict)
    shares: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    native_summary: str | None = None  # the audit of LlamaCloud's own webhooks
    fatal: str | None = None  # why the daemon is stopping (a damaged store)


def label_of(name: str, scope: str) -> str:
    return f"{name}/{scope}" if scope else name


def readiness(
    store: Store,
    target_keys: Sequence[tuple[str, str]],
    now: datetime,
    max_age: timedelta,
    baselines: Mapping[str, BaselineInfo] | None = None,
    *,
    fatal: str | None = None,
) -> dict[str, str]:
    """The scopes whose notifications are not current, and why.

    A scope is current once its baseline has completed and while its cheap cycle has
    succeeded within `max_age`; a baseline in progress gates readiness (its notifications
    start only when it ends). Sweeps never count.
    """
    states = {(s.name, s.scope): s for s in store.source_states()}
    late: dict[str, str] = {"store": fatal} if fatal else {}
    for name, scope in target_keys:
        label = label_of(name, scope)
        state = states.get((name, scope))
        success = parse_ts(state.last_success_at) if state else None
        if baselines and label in baselines:
            late[label] = baselines[label].describe()
        elif success is None:
            late[label] = "never polled successfully"
        elif now - success > max_age:
            late[label] = f"last success {int((now - success).total_seconds())}s ago"
    return late
