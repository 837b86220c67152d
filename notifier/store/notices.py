"""What digests and the watchdog keep: each digest rule's cursor, the open troubles, and the
events of a window read back from the log (a digest is built from the log, not from memory).
The notices themselves are events; `Store.record_notices` writes them with these rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from notifier.core.diff import EVENT_TYPES
from notifier.core.models import Event
from notifier.core.watchdog import OpenTrouble
from notifier.store.codec import event_from_json


class Notices:
    """The `digests` and `troubles` tables, on the store's connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- digests ----------------------------------------------------------------------------

    def digest_cursor(self, rule: str) -> str | None:
        """The end of the last window this digest rule summed up, if it ever did."""
        row = self.conn.execute("SELECT last_end FROM digests WHERE rule = ?", (rule,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def move_digest_cursor(conn: sqlite3.Connection, rule: str, end: str) -> None:
        """Inside the caller's transaction: the window up to `end` is done."""
        conn.execute(
            "INSERT INTO digests VALUES (?, ?) ON CONFLICT (rule) DO UPDATE "
            "SET last_end = max(last_end, excluded.last_end)",
            (rule, end),
        )

    def window_events(self, after: str, until: str) -> Iterator[Event]:
        """Job events detected in (after, until], oldest first, read one at a time."""
        marks = ",".join("?" * len(EVENT_TYPES))
        cursor = self.conn.execute(
            f"SELECT body FROM events WHERE detected_at > ? AND detected_at <= ? "
            f"AND type IN ({marks}) ORDER BY detected_at, rowid",
            (after, until, *EVENT_TYPES),
        )
        for (body,) in cursor:
            yield event_from_json(body)

    # -- troubles ---------------------------------------------------------------------------

    def oldest_pending(self) -> dict[str, str]:
        """Channel -> created_at of its oldest pending row (the outbox_due index answers)."""
        return {
            row[0]: row[1]
            for row in self.conn.execute(
                "SELECT channel, min(created_at) FROM outbox WHERE state = 'pending' "
                "GROUP BY channel"
            )
        }

    def open_troubles(self) -> dict[str, OpenTrouble]:
        return {
            row[0]: OpenTrouble(*row)
            for row in self.conn.execute(
                "SELECT key, kind, subject, opened_at, summary, notice_id FROM troubles"
            )
        }

    @staticmethod
    def open_trouble(conn: sqlite3.Connection, trouble: OpenTrouble) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO troubles VALUES (?, ?, ?, ?, ?, ?)",
            (
                trouble.key,
                trouble.kind,
                trouble.subject,
                trouble.opened_at,
                trouble.summary,
                trouble.notice_id,
            ),
        )

    @staticmethod
    def close_trouble(conn: sqlite3.Connection, key: str) -> None:
        conn.execute("DELETE FROM troubles WHERE key = ?", (key,))
