"""The status page's reads: counts by time bucket, recent failures, one job's history.

Every query here is answered from an index (migration 9, "indexes for the dashboard"), so
the page costs the same with 100,000 events as with 100 (`bench/dashboard.py` measures it).
Lists read columns, not the stored event bodies, except for the one job a job page shows.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from notifier.core.models import Event
from notifier.store.codec import event_from_json


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

    def transitions(
        self, bounds: Sequence[tuple[str, str]], phases: Sequence[str]
    ) -> list[dict[str, int]]:
        """Per [low, high) time range: phase -> events detected in it. One statement; each
        (range, phase) is a range count of the index `events_phase`."""
        if not bounds or not phases:
            return [{} for _ in bounds]
        ranges = ", ".join(["(?, ?, ?)"] * len(bounds))
        kinds = ", ".join(["(?)"] * len(phases))
        sql = (
            f"WITH ranges(i, low, high) AS (VALUES {ranges}), kinds(phase) AS (VALUES {kinds}) "
            "SELECT i, kinds.phase, (SELECT count(*) FROM events INDEXED BY events_phase "
            "WHERE events.phase = kinds.phase AND detected_at >= low AND detected_at < high) "
            "FROM ranges, kinds"
        )
        args = [v for i, (low, high) in enumerate(bounds) for v in (i, low, high)]
        found: list[dict[str, int]] = [{} for _ in bounds]
        for i, phase, count in self.conn.execute(sql, [*args, *phases]):
            if count:
                found[i][phase] = int(count)
        return found

    def delay_percentiles(
        self, hours: Sequence[int], quantiles: Sequence[float]
    ) -> list[list[float | None]]:
        """Per Unix hour (seconds // 3600): the nearest-rank quantiles of the detection delays
        (seconds) of the status changes detected in it; Nones for an hour without any. Each is
        an OFFSET into the hour's sorted delays in the index `events_delay`."""
        hour = "CAST(strftime('%s', detected_at) AS INTEGER) / 3600"
        count_sql = (
            f"SELECT count(*) FROM events INDEXED BY events_delay "
            f"WHERE {hour} = ? AND delay_ds IS NOT NULL"
        )
        low_sql = (
            f"SELECT delay_ds FROM events INDEXED BY events_delay WHERE {hour} = ? "
            "AND delay_ds IS NOT NULL ORDER BY delay_ds LIMIT 1 OFFSET ?"
        )
        high_sql = low_sql.replace("ORDER BY delay_ds", "ORDER BY delay_ds DESC")
        found: list[list[float | None]] = []
        for h in hours:
            total = int(self.conn.execute(count_sql, (h,)).fetchone()[0])
            values: list[float | None] = []
            for q in quantiles:
                if not total:
                    values.append(None)
                    continue
                rank = max(1, math.ceil(q * total))  # nearest rank, as one counts by hand
                # Walk from the nearer end of the hour's sorted delays (p95: from the top).
                if rank <= total - rank:
                    row = self.conn.execute(low_sql, (h, rank - 1)).fetchone()
                else:
                    row = self.conn.execute(high_sql, (h, total - rank)).fetchone()
                values.append(row[0] / 10 if row else None)
            found.append(values)
        return found

    def channels(self) -> list[str]:
        """The channels with outbox rows: a walk over the index's distinct first column."""
        sql = (
            "WITH RECURSIVE c(name) AS (SELECT min(channel) FROM outbox UNION ALL "
            "SELECT (SELECT min(channel) FROM outbox WHERE channel > c.name) FROM c "
            "WHERE c.name IS NOT NULL) SELECT name FROM c WHERE name IS NOT NULL"
        )
        return [row[0] for row in self.conn.execute(sql)]

    def outcomes(
        self, since: str, channels: Sequence[str], states: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        """channel -> state -> outbox rows queued since `since` (range counts of
        `outbox_window`)."""
        sql = (
            "SELECT count(*) FROM outbox INDEXED BY outbox_window "
            "WHERE channel = ? AND state = ? AND created_at >= ?"
        )
        found: dict[str, dict[str, int]] = {}
        for channel in channels:
            counts = {
                s: int(self.conn.execute(sql, (channel, s, since)).fetchone()[0]) for s in states
            }
            found[channel] = {s: n for s, n in counts.items() if n}
        return found

    def channel_counts(self, channel: str, states: Sequence[str]) -> dict[str, int]:
        """state -> rows of one channel in the outbox (whenever queued): range counts of
        `outbox_window`, no sort."""
        sql = "SELECT count(*) FROM outbox INDEXED BY outbox_window WHERE channel = ? AND state = ?"
        counts = {s: int(self.conn.execute(sql, (channel, s)).fetchone()[0]) for s in states}
        return {s: n for s, n in counts.items() if n}

    def outbox_depth(self) -> int:
        """Rows to send that are not delivered: pending and dead (a walk of those rows only)."""
        return int(
            self.conn.execute(
                "SELECT count(*) FROM outbox INDEXED BY outbox_state "
                "WHERE state IN ('pending', 'dead')"
            ).fetchone()[0]
        )

    def outbox_moves(self, bounds: Sequence[tuple[str, str]]) -> list[tuple[int, int]]:
        """Per [low, high) time range: (rows queued, rows delivered) in it. Suppressed and muted
        rows are never sent, so they never count; a requeued row counts from its requeueing."""
        if not bounds:
            return []
        ranges = ", ".join(["(?, ?, ?)"] * len(bounds))
        sql = (
            f"WITH ranges(i, low, high) AS (VALUES {ranges}) SELECT i, "
            "(SELECT count(*) FROM outbox INDEXED BY outbox_created WHERE created_at >= low "
            "AND created_at < high AND state IN ('pending', 'dead', 'delivered')), "
            "(SELECT count(*) FROM outbox INDEXED BY outbox_delivered_at "
            "WHERE delivered_at IS NOT NULL AND delivered_at >= low AND delivered_at < high) "
            "FROM ranges ORDER BY i"
        )
        args = [v for i, (low, high) in enumerate(bounds) for v in (i, low, high)]
        return [(int(q), int(d)) for _, q, d in self.conn.execute(sql, args)]

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
