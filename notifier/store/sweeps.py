"""Where each scope's sweep stands, and the jobs it found for the next cycle to re-read.

A sweep never writes the snapshot: a job it sees differ from the snapshot is recorded here
(`rechecks`), in the same transaction as the sweep's new position, and the scope's next
cheap cycle re-reads it by id and diffs it like any other. One writer per scope, and a
crash between the two loses nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from notifier.store.connection import transaction


@dataclass(frozen=True, slots=True)
class SweepPosition:
    """One scope's sweep: the pass in progress (if any) and the last one completed."""

    name: str
    scope: str
    pass_started_at: str | None = None
    window_low: str | None = None  # the oldest created_at the pass covers
    cursor: str | None = None  # the upper bound of the next slice (the pass goes newest first)
    slices: int = 0
    slices_done: int = 0
    pages: int = 0
    jobs: int = 0
    found: int = 0
    passes: int = 0
    last_completed_at: str | None = None
    last_pass_seconds: float | None = None

    @property
    def running(self) -> bool:
        return self.pass_started_at is not None


class Sweeps:
    """The `sweeps` and `rechecks` tables, on the store's connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def position(self, name: str, scope: str) -> SweepPosition:
        cursor = self.conn.execute(
            "SELECT name, scope, pass_started_at, window_low, cursor, slices, slices_done, "
            "pages, jobs, found, passes, last_completed_at, last_pass_seconds FROM sweeps "
            "WHERE name = ? AND scope = ?",
            (name, scope),
        )
        row = cursor.fetchone()
        return SweepPosition(name, scope) if row is None else SweepPosition(*row)

    def positions(self) -> list[SweepPosition]:
        return [
            SweepPosition(*row)
            for row in self.conn.execute(
                "SELECT name, scope, pass_started_at, window_low, cursor, slices, slices_done, "
                "pages, jobs, found, passes, last_completed_at, last_pass_seconds FROM sweeps "
                "ORDER BY name, scope"
            )
        ]

    def save(
        self,
        position: SweepPosition,
        *,
        source: str,
        found: Sequence[tuple[str, str]] = (),
        now: str = "",
    ) -> None:
        """The sweep's new position and the (job id, reason) pairs it found, together."""
        p = position
        with transaction(self.conn) as conn:
            conn.execute(
                "INSERT INTO sweeps (name, scope, pass_started_at, window_low, cursor, slices, "
                "slices_done, pages, jobs, found, passes, last_completed_at, last_pass_seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name, scope) DO "
                "UPDATE SET pass_started_at = excluded.pass_started_at, "
                "window_low = excluded.window_low, cursor = excluded.cursor, "
                "slices = excluded.slices, slices_done = excluded.slices_done, "
                "pages = excluded.pages, jobs = excluded.jobs, found = excluded.found, "
                "passes = excluded.passes, last_completed_at = excluded.last_completed_at, "
                "last_pass_seconds = excluded.last_pass_seconds",
                (
                    p.name,
                    p.scope,
                    p.pass_started_at,
                    p.window_low,
                    p.cursor,
                    p.slices,
                    p.slices_done,
                    p.pages,
                    p.jobs,
                    p.found,
                    p.passes,
                    p.last_completed_at,
                    p.last_pass_seconds,
                ),
            )
            conn.executemany(
                "INSERT INTO rechecks (source, scope, job_id, reason, found_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(source, p.scope, job_id, reason, now) for job_id, reason in found],
            )

    def rechecks(self, source: str, scope: str, limit: int = 1000) -> list[str]:
        """Jobs the scope's next cycle re-reads, oldest finding first."""
        return [
            row[0]
            for row in self.conn.execute(
                "SELECT job_id FROM rechecks WHERE source = ? AND scope = ? "
                "ORDER BY found_at LIMIT ?",
                (source, scope, limit),
            )
        ]
