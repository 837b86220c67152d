"""The delivery outbox: rows queued with their events, claimed, sent and marked by the worker.

Which state and due time a new row gets is decided in `core.queueing`; this module reads
the facts that decision needs (the last announcement, the group's last message) and
persists its outcome.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from notifier.core.models import Event, OutboxState, Route
from notifier.core.queueing import decide_queueing
from notifier.core.timestamps import format_ts, parse_ts
from notifier.store.codec import event_from_json
from notifier.store.connection import transaction


@dataclass(frozen=True, slots=True)
class Delivery:
    """An outbox row joined with its event: what the worker needs to send it."""

    id: int
    event: Event
    channel: str
    rule: str
    state: OutboxState
    attempts: int
    created_at: str
    next_attempt_at: str
    last_error: str | None
    last_status: int | None
    delivered_at: str | None
    group_key: str | None = None
    accepted: frozenset[str] = frozenset()  # keys of the channel's targets that took it


class Outbox:
    """The `outbox` and `channel_groups` tables, on the store's connection: writes through
    `sqlite3` in the store's transactions, reads through sqlite-utils (rows by column name)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.truncated = False
        self.conn: sqlite3.Connection = db.conn

    def queue(
        self, conn: sqlite3.Connection, events: Sequence[tuple[Event, Sequence[Route]]], now: str
    ) -> int:
        """One row per route of these (new) events, inside the caller's transaction; returns
        how many will be sent (suppressed repeats are recorded, not counted)."""
        moment = parse_ts(now)
        assert moment is not None
        rows: list[tuple[Any, ...]] = []
        queued = 0
        for event, routes in events:
            for route in routes:
                decision = decide_queueing(
                    route,
                    now=moment,
                    last_announced=self._last_announced(conn, route, event)
                    if route.repeat_interval is not None
                    else None,
                    group_last_sent=self._group_last_sent(conn, route)
                    if route.group_key is not None
                    else None,
                )
                if decision.announce:
                    conn.execute(
                        "INSERT INTO notified VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
                        "SET last_at = excluded.last_at",
                        (route.rule, event.source, event.job_id, event.to_status, now),
                    )
                queued += decision.state is OutboxState.PENDING
                rows.append(
                    (
                        event.id,
                        route.channel,
                        route.rule,
                        f"{event.source}:{event.job_id}",
                        decision.state.value,
                        now,
                        now if decision.due == moment else format_ts(decision.due),
                        route.group_key,
                        decision.note,
                    )
                )
        conn.executemany(
            "INSERT OR IGNORE INTO outbox (event_id, channel, rule, job_key, state, created_at, "
            "next_attempt_at, group_key, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return queued

    @staticmethod
    def _last_announced(conn: sqlite3.Connection, route: Route, event: Event) -> datetime | None:
        row = conn.execute(
            "SELECT last_at FROM notified WHERE rule = ? AND source = ? AND job_id = ? "
            "AND status = ?",
            (route.rule, event.source, event.job_id, event.to_status),
        ).fetchone()
        return parse_ts(row[0]) if row else None

    @staticmethod
    def _group_last_sent(conn: sqlite3.Connection, route: Route) -> datetime | None:
        row = conn.execute(
            "SELECT last_sent_at FROM channel_groups WHERE channel = ? AND group_key = ?",
            (route.channel, route.group_key),
        ).fetchone()
        return parse_ts(row[0]) if row else None

    _DELIVERY_COLUMNS = (
        "o.id, e.body, o.channel, o.rule, o.state, o.attempts, o.created_at, "
        "o.next_attempt_at, o.last_error, o.last_status, o.delivered_at, o.group_key, "
        "o.accepted"
    )

    def _deliveries(
        self, sql: str, params: Sequence[Any], max_bytes: int | None = None
    ) -> list[Delivery]:
        """Rows of a query over `_DELIVERY_COLUMNS`, read by column name; with `max_bytes`,
        ended before their events pass that size (at least one kept; `truncated` says so)."""
        self.truncated = False
        found: list[Delivery] = []
        size = 0
        for row in self.db.query(sql, params):
            size += len(row["body"])
            if found and max_bytes is not None and size > max_bytes:
                self.truncated = True
                break
            found.append(self._delivery(row))
        return found

    @staticmethod
    def _delivery(row: dict[str, Any]) -> Delivery:
        return Delivery(
            id=row["id"],
            event=event_from_json(row["body"]),
            channel=row["channel"],
            rule=row["rule"],
            state=OutboxState(row["state"]),
            attempts=row["attempts"],
            created_at=row["created_at"],
            next_attempt_at=row["next_attempt_at"],
            last_error=row["last_error"],
            last_status=row["last_status"],
            delivered_at=row["delivered_at"],
            group_key=row["group_key"],
            accepted=frozenset(row["accepted"].split(",")) if row["accepted"] else frozenset(),
        )

    def due_deliveries(self, channel: str, now: str, limit: int) -> list[Delivery]:
        """Pending rows due now, oldest first, at most one per job.

        A row waits while an older pending row of the same job and channel exists, so each
        receiver sees a job's transitions in the order they were detected.
        """
        sql = (
            f"SELECT {self._DELIVERY_COLUMNS} FROM outbox o JOIN events e ON e.id = o.event_id "
            "WHERE o.channel = ? AND o.state = 'pending' AND o.next_attempt_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.channel = o.channel "
            "AND p.job_key = o.job_key AND p.state = 'pending' AND p.id < o.id) "
            "ORDER BY o.id LIMIT ?"
        )
        return self._deliveries(sql, (channel, now, limit))

    def group_members(self, channel: str, group_key: str, limit: int = 1000) -> list[Delivery]:
        """Every pending row of a group, due or not: a group flushes as one message."""
        sql = (
            f"SELECT {self._DELIVERY_COLUMNS} FROM outbox o JOIN events e ON e.id = o.event_id "
            "WHERE o.channel = ? AND o.group_key = ? AND o.state = 'pending' ORDER BY o.id LIMIT ?"
        )
        return self._deliveries(sql, (channel, group_key, limit))

    def group_sent(self, channel: str, group_key: str, now: str) -> None:
        """Remember when a group's message went out, for its `group_interval`."""
        with transaction(self.conn) as conn:
            conn.execute(
                "INSERT INTO channel_groups VALUES (?, ?, ?) ON CONFLICT DO UPDATE "
                "SET last_sent_at = excluded.last_sent_at",
                (channel, group_key, now),
            )

    def mark_muted(self, ids: Sequence[int], reason: str) -> None:
        """Rows a mute held back: recorded (and redeliverable), not sent, not lost."""
        with transaction(self.conn) as conn:
            conn.executemany(
                "UPDATE outbox SET state = 'muted', last_error = ? WHERE id = ?",
                [(reason, i) for i in ids],
            )

    def oldest_pending(self) -> dict[str, str]:
        """channel -> `created_at` of its oldest row still to be sent (waiting or retrying):
        how far behind each channel is, for `notifier_outbox_oldest_pending_age_seconds`."""
        return {
            row[0]: row[1]
            for row in self.conn.execute(
                "SELECT channel, min(created_at) FROM outbox WHERE state = 'pending' "
                "GROUP BY channel"
            )
        }

    def next_due_at(self, channel: str) -> str | None:
        row = self.conn.execute(
            "SELECT min(next_attempt_at) FROM outbox WHERE channel = ? AND state = 'pending'",
            (channel,),
        ).fetchone()
        return None if row is None else row[0]

    def mark_delivered(self, ids: Sequence[int], now: str, status: int | None = None) -> None:
        with transaction(self.conn) as conn:
            conn.executemany(
                "UPDATE outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1, "
                "last_status = ?, last_error = NULL WHERE id = ?",
                [(now, status, i) for i in ids],
            )

    def mark_failed(
        self,
        delivery_id: int,
        *,
        error: str,
        status: int | None,
        next_attempt_at: str | None,
        accepted: Collection[str] = (),
    ) -> None:
        """Count a failed attempt: retry at `next_attempt_at`, or dead-letter when it is None.
        `accepted`: the channel's targets that have taken the row so far."""
        state = OutboxState.PENDING if next_attempt_at is not None else OutboxState.DEAD
        taken = ",".join(sorted(accepted)) or None
        with transaction(self.conn) as conn:
            conn.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?, "
                "last_status = ?, next_attempt_at = coalesce(?, next_attempt_at), "
                "accepted = ? WHERE id = ?",
                (state.value, error[:2000], status, next_attempt_at, taken, delivery_id),
            )

    def list_deliveries(
        self,
        *,
        state: str | None = None,
        channel: str | None = None,
        limit: int = 100,
        max_bytes: int | None = None,
    ) -> list[Delivery]:
        where, args = ["1 = 1"], []
        if state == "failed":
            where.append("o.state = 'pending' AND o.attempts > 0")
        elif state is not None:
            where.append("o.state = ?")
            args.append(state)
        if channel is not None:
            where.append("o.channel = ?")
            args.append(channel)
        sql = (
            f"SELECT {self._DELIVERY_COLUMNS} FROM outbox o JOIN events e ON e.id = o.event_id "
            f"WHERE {' AND '.join(where)} ORDER BY o.id DESC LIMIT ?"
        )
        return self._deliveries(sql, [*args, limit], max_bytes)

    def requeue(
        self, *, now: str, delivery_id: int | None = None, channel: str | None = None
    ) -> int:
        """Dead or muted rows (of one id or channel, else all) back to pending with a fresh
        attempt budget; returns how many."""
        sql = (
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, "
            "created_at = ? WHERE state IN ('dead', 'muted')"
        )
        args: list[Any] = [now, now]
        if delivery_id is not None:
            sql += " AND id = ?"
            args.append(delivery_id)
        if channel is not None:
            sql += " AND channel = ?"
            args.append(channel)
        with transaction(self.conn) as conn:
            return conn.execute(sql, args).rowcount

    def counts(self) -> dict[tuple[str, str], int]:
        """(channel, state) -> rows, for metrics and the status page."""
        return {
            (row[0], row[1]): row[2]
            for row in self.conn.execute(
                "SELECT channel, state, count(*) FROM outbox GROUP BY channel, state"
            )
        }
