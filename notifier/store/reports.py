"""The status page's reads: counts by time bucket, recent failures, one job's history.

Every query here is answered from an index (migration 8, "indexes for the dashboard"), so
the page costs the same with 100,000 events as with 100 (`bench/dashboard.py` measures it).
Lists read columns, not the stored event bodies, except for the one job a job page shows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from notifier.core.models import Event
from notifier.store.codec import event_from_json

# Julian day of the Unix epoch: SQLite's julianday() of 1970-01-01T00:00:00Z.
_EPOCH_JD = 2440587.5


def julian_day(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp() / 86400.0 + _EPOCH_JD


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """An outbox row with the few fields of its event that a table shows (no body parsed)."""

    id: int
    channel: str
    rule: str
    state: str
    attempts: int
    created_at: str
    next_attempt_at: str
    delivered_at: str | None
    last_status: int | None
    last_error: str | None
    event_id: str
    source: str
    job_id: str
    to_status: str


_ROW = (
    "o.id, o.channel, o.rule, o.state, o.attempts, o.created_at, o.next_attempt_at, "
    "o.delivered_at, o.last_status, o.last_error, o.event_id, e.source, e.job_id, e.to_status"
)


class Reports:
    """Read-only queries over the store's connection, for the status page."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def transitions(self, since: str, start: datetime, bucket_s: int) -> list[tuple[int, str, int]]:
        """(bucket index, phase, count) of events detected since `since`, `bucket_s` wide."""
        per_day = 86400.0 / bucket_s
        return [
            (int(row[0]), row[1], int(row[2]))
            for row in self.conn.execute(
                "SELECT CAST((julianday(detected_at) - ?) * ? AS INTEGER) AS b, phase, count(*) "
                "FROM events INDEXED BY events_chart WHERE detected_at >= ? GROUP BY b, phase",
                (julian_day(start), per_day, since),
            )
        ]

    def delays(self, since: str, start: datetime, bucket_s: int) -> list[tuple[int, int, int]]:
        """(bucket index, detection delay in tenths of a second, count) of status changes."""
        per_day = 86400.0 / bucket_s
        return [
            (int(row[0]), int(row[1]), int(row[2]))
            for row in self.conn.execute(
                "SELECT CAST((julianday(detected_at) - ?) * ? AS INTEGER) AS b, delay_ds, "
                "count(*) FROM events INDEXED BY events_chart "
                "WHERE detected_at >= ? AND delay_ds IS NOT NULL GROUP BY b, delay_ds",
                (julian_day(start), per_day, since),
            )
        ]

    def outbox_flow(
        self, since: str, start: datetime, bucket_s: int
    ) -> tuple[int, dict[int, int], dict[int, int]]:
        """What the outbox depth was at `since` (rows to send, not yet delivered), and how many
        rows were queued and delivered in each bucket after it. Suppressed and muted rows are
        never sent, so they never count."""
        per_day = 86400.0 / bucket_s
        sendable = "state IN ('pending', 'dead', 'delivered')"
        before = self.conn.execute(
            f"SELECT (SELECT count(*) FROM outbox WHERE created_at < ? AND {sendable}) - "
            "(SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?)",
            (since, since),
        ).fetchone()[0]
        queued = {
            int(row[0]): int(row[1])
            for row in self.conn.execute(
                "SELECT CAST((julianday(created_at) - ?) * ? AS INTEGER) AS b, count(*) "
                f"FROM outbox WHERE created_at >= ? AND {sendable} GROUP BY b",
                (julian_day(start), per_day, since),
            )
        }
        delivered = {
            int(row[0]): int(row[1])
            for row in self.conn.execute(
                "SELECT CAST((julianday(delivered_at) - ?) * ? AS INTEGER) AS b, count(*) "
                "FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at >= ? GROUP BY b",
                (julian_day(start), per_day, since),
            )
        }
        return max(0, int(before)), queued, delivered

    def outcomes(self, since: str) -> dict[tuple[str, str], int]:
        """(channel, state) -> outbox rows queued since `since`."""
        return {
            (row[0], row[1]): int(row[2])
            for row in self.conn.execute(
                "SELECT channel, state, count(*) FROM outbox INDEXED BY outbox_created "
                "WHERE created_at >= ? GROUP BY channel, state",
                (since,),
            )
        }

    def channel_counts(self, channel: str) -> dict[str, int]:
        """state -> rows of one channel in the outbox (all of them, whenever queued)."""
        return {
            row[0]: int(row[1])
            for row in self.conn.execute(
                "SELECT state, count(*) FROM outbox INDEXED BY outbox_due WHERE channel = ? "
                "GROUP BY state",
                (channel,),
            )
        }

    def active_jobs(self) -> dict[tuple[str, str], int]:
        """(source, scope) -> jobs last seen in a non-terminal status (rows from before scopes
        were recorded count under their project)."""
        return {
            (row[0], row[1]): int(row[2])
            for row in self.conn.execute(
                "SELECT source, coalesce(poll_scope, project_id, '') AS scope, count(*) "
                "FROM jobs WHERE terminal = 0 GROUP BY source, scope"
            )
        }

    def deliveries(self, state: str, limit: int) -> list[DeliveryRow]:
        """The newest rows in one state."""
        return self._rows(
            f"SELECT {_ROW} FROM outbox o INDEXED BY outbox_state JOIN events e "
            "ON e.id = o.event_id WHERE o.state = ? ORDER BY o.id DESC LIMIT ?",
            (state, limit),
        )

    def failing(self, limit: int, channel: str | None = None) -> list[DeliveryRow]:
        """The newest rows that failed at least once and are retrying or dead."""
        where = "o.attempts > 0 AND o.state IN ('pending', 'dead')"
        args: tuple[object, ...] = (limit,)
        if channel is not None:
            where += " AND o.channel = ?"
            args = (channel, limit)
        return self._rows(
            f"SELECT {_ROW} FROM outbox o INDEXED BY outbox_failing JOIN events e "
            f"ON e.id = o.event_id WHERE {where} ORDER BY o.id DESC LIMIT ?",
            args,
        )

    def job_events(self, source: str, job_id: str, limit: int = 500) -> list[Event]:
        """One job's recorded events, oldest first (the newest `limit` of them)."""
        rows = self.conn.execute(
            "SELECT body FROM events WHERE source = ? AND job_id = ? "
            "ORDER BY detected_at DESC, rowid DESC LIMIT ?",
            (source, job_id, limit),
        ).fetchall()
        return [event_from_json(row[0]) for row in reversed(rows)]

    def job_deliveries(self, source: str, job_id: str) -> list[DeliveryRow]:
        """Every outbox row of one job's events, by channel then in queueing order."""
        return self._rows(
            f"SELECT {_ROW} FROM events e JOIN outbox o ON o.event_id = e.id "
            "WHERE e.source = ? AND e.job_id = ? ORDER BY o.channel, o.id",
            (source, job_id),
        )

    def find_job(self, job_id: str, sources: Iterable[str]) -> list[str]:
        """The sources that know a job of this id (snapshot or event log)."""
        names = sorted(set(sources))
        if not names:
            return []
        marks = ",".join("?" * len(names))
        found = {
            row[0]
            for table in ("jobs", "events")
            for row in self.conn.execute(
                f"SELECT DISTINCT source FROM {table} WHERE source IN ({marks}) AND job_id = ?",
                [*names, job_id],
            )
        }
        return sorted(found)

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[DeliveryRow]:
        return [DeliveryRow(*row) for row in self.conn.execute(sql, params)]
