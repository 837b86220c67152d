"""The status page and the readiness verdict it shares with `/readyz`.

Server-rendered HTML that refreshes itself; every value escaped and redacted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from notifier.core.render import iso_ms
from notifier.core.timestamps import format_ts, parse_ts
from notifier.secrets import redact
from notifier.store.db import Store
from notifier.store.outbox import Delivery

_REFRESH_SECONDS = 5


def readiness(
    store: Store, target_keys: Sequence[tuple[str, str]], now: datetime, max_age: timedelta
) -> dict[str, str]:
    """The scopes that have not been polled successfully within `max_age` and why."""
    states = {(s.name, s.scope): s for s in store.source_states()}
    late: dict[str, str] = {}
    for name, scope in target_keys:
        label = f"{name}/{scope}" if scope else name
        state = states.get((name, scope))
        success = parse_ts(state.last_success_at) if state else None
        if success is None:
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


def status_page(
    store: Store, target_keys: Sequence[tuple[str, str]], now: datetime, interval: timedelta
) -> str:
    """Server-rendered HTML that refreshes itself; every value escaped and redacted."""
    late = readiness(store, target_keys, now, 3 * interval)
    states = {(s.name, s.scope): s for s in store.source_states()}
    sources = []
    for name, scope in target_keys:
        state = states.get((name, scope))
        label = f"{name}/{scope}" if scope else name
        sources.append(
            [
                label,
                "late" if label in late else "ok",
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
{_table("Sources", source_headers, sources)}
{_table("Recent transitions", ["detected", "type", "source", "job", "from", "to"], events)}
{_table("Pending deliveries", outbox_headers, outbox_rows(pending))}
{_table("Dead deliveries", outbox_headers, outbox_rows(dead))}
</body></html>
"""
