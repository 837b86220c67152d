"""SQLite: the job snapshot and the event log; the outbox and mutes are parts of the store.

One owner: a `Store` is used from the thread that opened it (the daemon's event loop).
Everything a poll cycle learns is written in ONE transaction (`commit_cycle`): snapshot
rows, events and their outbox rows (`store.outbox.queue`), so a crash leaves either the
whole cycle or nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import sqlite_utils

from notifier.core.models import Event, Route, SnapshotRow
from notifier.core.statuses import is_terminal
from notifier.store.codec import (
    ROW_COLUMNS,
    ScopeView,
    SourceState,
    event_from_json,
    event_to_json,
    snapshot_row,
)
from notifier.store.connection import StoreError, open_store, transaction
from notifier.store.mutes import Mutes
from notifier.store.notices import Notices
from notifier.store.outbox import Outbox
from notifier.store.schema import MIGRATIONS, migrate, schema_version
from notifier.store.sweeps import Sweeps

_IN_CHUNK = 500
# The active rows a scope refreshes: those it listed, and rows from before `poll_scope` was
# recorded by their project (the no-project scope takes them all), as before migration 4.
_OWNED = "(poll_scope = ? OR (poll_scope IS NULL AND (? = '' OR project_id = ?)))"


class Store:
    """The notifier's SQLite database (WAL), migrated to the newest schema on open.

    `outbox` and `mutes` share its connection: one file, one writer, one transaction per
    cycle.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            # A missing file is created; one that is not a store of ours is UnusableStore.
            self.conn = open_store(path, prepare=migrate, known_version=len(MIGRATIONS))
            self.db = sqlite_utils.Database(self.conn)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc
        self.truncated = False  # whether the last bounded listing was cut short
        self.outbox = Outbox(self.db)
        self.mutes = Mutes(self.conn)
        self.sweeps = Sweeps(self.conn)
        self.notices = Notices(self.conn)

    def close(self) -> None:
        self.conn.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT on the store's connection, rolled back on any error."""
        return transaction(self.conn)

    def schema_version(self) -> int:
        return schema_version(self.conn)

    # -- snapshot ---------------------------------------------------------------------------

    def source_state(self, name: str, scope: str) -> SourceState:
        return self._read_state(name, scope)

    def _read_state(self, name: str, scope: str) -> SourceState:
        rows = list(
            self.db.query("SELECT * FROM source_state WHERE name = ? AND scope = ?", [name, scope])
        )
        if not rows:
            return SourceState(name=name, scope=scope)
        row = rows[0]
        return SourceState(**{**row, "baseline_done": bool(row["baseline_done"])})

    def source_states(self) -> list[SourceState]:
        return [
            SourceState(**{**row, "baseline_done": bool(row["baseline_done"])})
            for row in self.db.query("SELECT * FROM source_state ORDER BY name, scope")
        ]

    def scope_view(self, name: str, source: str, scope: str) -> ScopeView:
        """The scope's state and running rows, in one read transaction: all a cycle asks the
        store before it fetches."""
        self.conn.execute("BEGIN")  # one consistent snapshot for both reads
        try:
            state = self._read_state(name, scope)
            sql = f"SELECT {ROW_COLUMNS} FROM jobs WHERE source = ? AND terminal = 0 AND {_OWNED}"
            active = {
                row[1]: snapshot_row(row)
                for row in self.conn.execute(sql, [source, scope, scope, scope])
            }
            rechecks = tuple(self.sweeps.rechecks(source, scope))
        finally:
            self.conn.execute("COMMIT")
        try:
            frontier = frozenset(json.loads(state.frontier)) if state.frontier else frozenset()
        except (ValueError, TypeError):
            frontier = frozenset()  # an unreadable hint only costs a query
        return ScopeView(state, active, frontier, rechecks)

    def count_created_since(self, source: str, low: str) -> int:
        """How many snapshot rows of a source were created since `low` (a scan: once a pass)."""
        row = self.conn.execute(
            "SELECT count(*) FROM jobs WHERE source = ? AND created_at >= ?", (source, low)
        ).fetchone()
        return int(row[0])

    def locate(self, job_id: str, sources: Iterable[str]) -> list[tuple[str, str]]:
        """(source, scope) of the snapshot rows of this job id among these sources."""
        names = list(sources)
        if not names:
            return []
        marks = ",".join("?" * len(names))
        return [
            (row[0], row[1] or "")
            for row in self.conn.execute(
                f"SELECT source, poll_scope FROM jobs WHERE job_id = ? AND source IN ({marks})",
                [job_id, *names],
            )
        ]

    def active_job_ids(self, source: str, scope: str) -> list[str]:
        """Ids of the jobs last seen in a non-terminal status by this scope: what a cheap cycle
        refreshes. Rows from before scopes were recorded go by their project, as they did."""
        sql = f"SELECT job_id FROM jobs WHERE source = ? AND terminal = 0 AND {_OWNED}"
        return [row[0] for row in self.conn.execute(sql, [source, scope, scope, scope])]

    def active_summary(
        self, source: str, scope: str
    ) -> list[tuple[str, int, str | None, str | None]]:
        """(status, count, oldest created_at, newest created_at) of the scope's active jobs."""
        sql = (
            "SELECT status, count(*), min(created_at), max(created_at) FROM jobs "
            f"WHERE source = ? AND terminal = 0 AND {_OWNED} GROUP BY status"
        )
        return [tuple(row) for row in self.conn.execute(sql, [source, scope, scope, scope])]

    def load_rows(self, source: str, job_ids: Iterable[str]) -> dict[str, SnapshotRow]:
        """The snapshot rows of these jobs, read in chunks so no query grows unbounded."""
        ids = list(dict.fromkeys(job_ids))
        found: dict[str, SnapshotRow] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor = self.conn.execute(
                f"SELECT {ROW_COLUMNS} FROM jobs WHERE source = ? AND job_id IN ({marks})",
                [source, *chunk],
            )
            found.update((row[1], snapshot_row(row)) for row in cursor)
        return found

    def commit_cycle(
        self,
        *,
        name: str,
        scope: str,
        now: str,
        rows: Sequence[SnapshotRow],
        events: Sequence[tuple[Event, Sequence[Route]]],
        watermark: str | None,
        baseline_done: bool,
        frontier: Sequence[str] | None = None,
        rechecked: Sequence[str] = (),
        rechecked_source: str = "",
    ) -> int:
        """Snapshot rows, events, outbox rows and the scope's state in one transaction;
        `rechecked`: the sweep's findings this cycle re-read, done with.

        An event already recorded (same deterministic id) is skipped with its outbox rows, so
        replaying a cycle after a crash cannot queue a delivery twice. Returns how many new
        outbox rows were queued.
        """
        with self.transaction() as conn:
            queued = self._write_jobs(conn, now, scope, rows, events)
            if rechecked:
                conn.executemany(
                    "DELETE FROM rechecks WHERE source = ? AND scope = ? AND job_id = ?",
                    [(rechecked_source, scope, job_id) for job_id in rechecked],
                )
            conn.execute(
                "INSERT INTO source_state (name, scope, baseline_done, watermark, cycles, "
                "last_poll_at, last_success_at, last_error, frontier) "
                "VALUES (?, ?, ?, ?, 1, ?, ?, NULL, ?) "
                "ON CONFLICT (name, scope) DO UPDATE SET "
                "frontier = coalesce(excluded.frontier, frontier), "
                "baseline_done = max(baseline_done, excluded.baseline_done), "
                "watermark = coalesce(max(excluded.watermark, watermark), "
                "excluded.watermark, watermark), "
                "cycles = cycles + 1, last_poll_at = excluded.last_poll_at, "
                "last_success_at = excluded.last_success_at, last_error = NULL",
                (
                    name,
                    scope,
                    int(baseline_done),
                    watermark,
                    now,
                    now,
                    None if frontier is None else json.dumps(list(frontier)),
                ),
            )
        return queued

    def commit_jobs(
        self,
        *,
        scope: str,
        now: str,
        rows: Sequence[SnapshotRow],
        events: Sequence[tuple[Event, Sequence[Route]]],
    ) -> int:
        """Part of a long cycle: snapshot rows, events and outbox rows, the scope's state untouched.

        A cycle that lists many pages (a reconcile pass) commits as it goes so that its memory
        stays bounded; each part is as atomic as a whole cycle, and the watermark only moves
        with the cycle's last part, so a crash in between repeats the listing, never skips it.
        """
        with self.transaction() as conn:
            return self._write_jobs(conn, now, scope, rows, events)

    def _write_jobs(
        self,
        conn: sqlite3.Connection,
        now: str,
        scope: str,
        rows: Sequence[SnapshotRow],
        events: Sequence[tuple[Event, Sequence[Route]]],
    ) -> int:
        """The snapshot upserts (owned by `scope`), the new events and their outbox rows;
        returns how many outbox rows will be sent."""
        conn.executemany(
            "INSERT INTO jobs (source, job_id, status, project_id, created_at, updated_at, "
            "status_since, transitions, stuck_notified, terminal, poll_scope) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source, job_id) DO UPDATE SET status = excluded.status, "
            "project_id = excluded.project_id, created_at = excluded.created_at, "
            "updated_at = excluded.updated_at, status_since = excluded.status_since, "
            "transitions = excluded.transitions, stuck_notified = excluded.stuck_notified, "
            "terminal = excluded.terminal, poll_scope = excluded.poll_scope",
            [
                (
                    r.source,
                    r.job_id,
                    r.status,
                    r.project_id,
                    r.created_at,
                    r.updated_at,
                    r.status_since,
                    r.transitions,
                    int(r.stuck_notified),
                    int(is_terminal(r.status)),
                    scope,
                )
                for r in rows
            ],
        )
        fresh = self._unrecorded(conn, events)
        conn.executemany(
            "INSERT INTO events (id, type, source, job_id, project_id, from_status, "
            "to_status, phase, detected_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.id,
                    e.type,
                    e.source,
                    e.job_id,
                    e.project_id,
                    e.from_status,
                    e.to_status,
                    e.phase,
                    e.detected_at,
                    event_to_json(e),
                )
                for e, _ in fresh
            ],
        )
        return self.outbox.queue(conn, fresh, now)

    @staticmethod
    def _unrecorded(
        conn: sqlite3.Connection, events: Sequence[tuple[Event, Sequence[Route]]]
    ) -> list[tuple[Event, Sequence[Route]]]:
        """The events not in the log yet (a replayed cycle finds its events already there)."""
        unique = list({event.id: (event, routes) for event, routes in events}.values())
        ids = [event.id for event, _ in unique]
        known: set[str] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            known.update(
                row[0]
                for row in conn.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk)
            )
        return [(event, routes) for event, routes in unique if event.id not in known]

    def record_notices(
        self,
        now: str,
        events: Sequence[tuple[Event, Sequence[Route]]],
        then: Callable[[sqlite3.Connection], None] | None = None,
    ) -> int:
        """Notices (digests, troubles) with their outbox rows, and `then`'s writes (a cursor,
        a trouble's state), in one transaction; a notice recorded before is skipped."""
        with self.transaction() as conn:
            queued = self._write_jobs(conn, now, "", [], events)
            if then is not None:
                then(conn)
        return queued

    def record_poll_failure(self, *, name: str, scope: str, now: str, error: str) -> None:
        """Remember the last error of a scope for the status page; the snapshot is untouched."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO source_state (name, scope, last_poll_at, last_error) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (name, scope) DO UPDATE SET "
                "last_poll_at = excluded.last_poll_at, last_error = excluded.last_error",
                (name, scope, now, error[:2000]),
            )

    def prune(self, before: str, batch: int = 1000) -> int:
        """Delete one small batch of finished jobs, delivered outbox rows and unreferenced events
        older than `before`; returns rows deleted (call again until 0).

        Pending and dead outbox rows, and the events they point at, are never pruned: what has
        not been delivered is not lost to retention.
        """
        with self.transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                "WHERE state = 'delivered' AND created_at < ? LIMIT ?)",
                (before, batch),
            ).rowcount
            deleted += conn.execute(
                "DELETE FROM events WHERE id IN (SELECT e.id FROM events e "
                "WHERE e.detected_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM outbox o WHERE o.event_id = e.id) LIMIT ?)",
                (before, batch),
            ).rowcount
            deleted += conn.execute(
                "DELETE FROM jobs WHERE (source, job_id) IN (SELECT source, job_id FROM jobs "
                "WHERE terminal = 1 AND status_since < ? LIMIT ?)",
                (before, batch),
            ).rowcount
        return deleted

    # -- events -----------------------------------------------------------------------------

    def list_events(
        self,
        *,
        job_id: str | None = None,
        source: str | None = None,
        status: str | None = None,
        since: str | None = None,
        limit: int = 100,
        max_bytes: int | None = None,
    ) -> list[Event]:
        """Recorded events, newest first, narrowed by the given filters (`status` in any case:
        `--status failed` means FAILED). With `max_bytes`, the list ends before the stored
        events it holds pass that size (at least one is kept), and `truncated` says so."""
        self.truncated = False
        where, args = ["1 = 1"], []
        for column, value in (("job_id", job_id), ("source", source)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if status is not None:
            where.append("to_status = ? COLLATE NOCASE")
            args.append(status)
        if since is not None:
            where.append("detected_at >= ?")
            args.append(since)
        sql = (
            f"SELECT body FROM events WHERE {' AND '.join(where)} "
            "ORDER BY detected_at DESC, rowid DESC LIMIT ?"
        )
        events: list[Event] = []
        size = 0
        for row in self.db.query(sql, [*args, limit]):
            size += len(row["body"])
            if events and max_bytes is not None and size > max_bytes:
                self.truncated = True
                break
            events.append(event_from_json(row["body"]))
        return events
