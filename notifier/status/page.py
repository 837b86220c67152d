"""The status page and the readiness verdict it shares with `/readyz`.

Server-rendered HTML that refreshes itself; every value escaped and redacted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from notifier.core.render import iso_ms
from notifier.core.timestamps import format_ts, parse_ts
from notifier.secrets import redact
from notifier.store.db import Store
from notifier.store.outbox import Delivery

_REFRESH_SECONDS = 5


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


def _rows(cells: Sequence[Sequence[object]]) -> str:
    return "".join(
        "<tr>" + "".join(f"<td>{escape('-' if c is None else str(c))}</td>" for c in row) + "</tr>"
        for row in cells
    )


def _table(title: str, headers: Sequence[str], cells: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = _rows(cells) or f'<tr><td colspan="{len(headers)}">none</td></tr>'
    return (
        f"<h2>{escape(title)}</h2>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _ago(moment: str | None, now: datetime) -> str | None:
    when = parse_ts(moment)
    return None if when is None else f"{(now - when).total_seconds():,.0f}s ago"


def _sweep_rows(store: Store, live: LiveView, now: datetime) -> list[list[object]]:
    rows: list[list[object]] = []
    for p in store.sweeps.positions():
        label = label_of(p.name, p.scope)
        shares = live.shares.get(label, {})
        share = ", ".join(f"{k} {v:.0%}" for k, v in sorted(shares.items()) if v) or "0%"
        progress = (
            f"pass {p.slices_done}/{p.slices} slices, {p.pages:,} pages, {p.found} found"
            if p.running
            else "between passes"
        )
        last = None if p.last_pass_seconds is None else f"{p.last_pass_seconds:,.0f}s"
        rows.append(
            [
                label,
                live.cycle_requests.get(label),
                share,
                progress,
                p.passes,
                last,
                _ago(p.last_completed_at, now),
            ]
        )
    return rows


def status_page(
    store: Store,
    target_keys: Sequence[tuple[str, str]],
    now: datetime,
    interval: timedelta,
    live: LiveView | None = None,
) -> str:
    """Server-rendered HTML that refreshes itself; every value escaped and redacted."""
    live = live or LiveView()
    late = readiness(store, target_keys, now, 3 * interval, live.baselines, fatal=live.fatal)
    states = {(s.name, s.scope): s for s in store.source_states()}
    sources = []
    for name, scope in target_keys:
        state = states.get((name, scope))
        label = label_of(name, scope)
        baseline = live.baselines.get(label)
        sources.append(
            [
                label,
                baseline.describe() if baseline else "late" if label in late else "ok",
                iso_ms(state.last_poll_at) if state else None,
                iso_ms(state.last_success_at) if state else None,
                state.cycles if state else 0,
                redact(state.last_error) if state and state.last_error else None,
            ]
        )
    events = [
        [iso_ms(e.detected_at), e.type, e.source, e.job_id, e.from_status or "new", e.to_status]
        for e in store.list_events(limit=25)
    ]
    pending = store.outbox.list_deliveries(state="pending", limit=25)
    dead = store.outbox.list_deliveries(state="dead", limit=25)

    def outbox_rows(rows: list[Delivery]) -> list[list[object]]:
        return [
            [
                d.id,
                d.channel,
                d.event.job_id,
                d.event.to_status,
                d.attempts,
                iso_ms(d.next_attempt_at),
                redact(d.last_error) if d.last_error else None,
            ]
            for d in rows
        ]

    outbox_headers = ["id", "channel", "job", "status", "attempts", "next attempt", "last error"]
    overall = "ready" if not late else "not ready"
    source_headers = ["source", "state", "last poll", "last success", "cycles", "last error"]
    sweep_headers = [
        "source",
        "requests last cycle",
        "budget share (last minute)",
        "sweep",
        "passes",
        "last pass took",
        "last pass completed",
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{_REFRESH_SECONDS}">
<title>llamacloud-notifier: {overall}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; }}
th {{ background: #f3f3f3; }}
</style></head><body>
<h1>llamacloud-notifier: {overall}</h1>
<p>Updated {escape(iso_ms(format_ts(now)) or "")}; polling every {interval.total_seconds():g}s.</p>
{f"<p>{escape(live.native_summary)}</p>" if live.native_summary else ""}
{_table("Sources", source_headers, sources)}
{_table("Sweeps and request budget", sweep_headers, _sweep_rows(store, live, now))}
{_table("Recent transitions", ["detected", "type", "source", "job", "from", "to"], events)}
{_table("Pending deliveries", outbox_headers, outbox_rows(pending))}
{_table("Dead deliveries", outbox_headers, outbox_rows(dead))}
</body></html>
"""
