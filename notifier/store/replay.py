"""Replay: recorded deliveries chosen by time, rule, channel and job, sent once more.

A replayed row goes back to `pending` with a fresh attempt budget and keeps its event, so
the receiver sees the same `webhook-id` and can deduplicate. Rows still pending are left as
they are (they go anyway); suppressed repeats were never meant to be sent and stay so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlite_utils

from notifier.store.connection import transaction

REPLAYABLE = ("delivered", "dead", "muted")
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ReplayRow:
    """One delivery a replay would send again."""

    delivery_id: int
    event_id: str
    channel: str
    rule: str
    state: str
    job_id: str
    source: str
    to_status: str
    detected_at: str


def replay_rows(
    db: sqlite_utils.Database,
    *,
    since: str,
    rule: str | None = None,
    channel: str | None = None,
    job_id: str | None = None,
    limit: int | None = None,
) -> list[ReplayRow]:
    """Deliveries of events detected since `since` that were sent, dead-lettered or muted,
    oldest event first (the order receivers first saw them)."""
    where = ["e.detected_at >= ?", f"o.state IN ({', '.join('?' * len(REPLAYABLE))})"]
    args: list[object] = [since, *REPLAYABLE]
    for column, value in (("o.rule", rule), ("o.channel", channel), ("e.job_id", job_id)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    sql = (
        "SELECT o.id, o.event_id, o.channel, o.rule, o.state, e.job_id, e.source, e.to_status, "
        "e.detected_at FROM outbox o JOIN events e ON e.id = o.event_id "
        f"WHERE {' AND '.join(where)} ORDER BY e.detected_at, o.id"
    )
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return [
        ReplayRow(
            delivery_id=row["id"],
            event_id=row["event_id"],
            channel=row["channel"],
            rule=row["rule"],
            state=row["state"],
            job_id=row["job_id"],
            source=row["source"],
            to_status=row["to_status"],
            detected_at=row["detected_at"],
        )
        for row in db.query(sql, args)
    ]


def requeue_for_replay(db: sqlite_utils.Database, ids: Sequence[int], now: str) -> int:
    """Those rows back to pending, due now, every target of the channel to be tried again;
    returns how many moved (a row that turned pending meanwhile is not counted twice)."""
    moved = 0
    with transaction(db.conn) as conn:
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            moved += conn.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, "
                "created_at = ?, last_error = NULL, accepted = NULL "
                f"WHERE id IN ({marks}) AND state IN ('delivered', 'dead', 'muted')",
                [now, now, *chunk],
            ).rowcount
    return moved
