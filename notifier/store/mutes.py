"""Ad-hoc mutes (`notifier mute`): recorded with an end time, read by the outbox worker."""

from __future__ import annotations

import sqlite3

from notifier.store.connection import transaction


class Mutes:
    """The `mutes` table; whether a mute holds a delivery is decided in `core.queueing`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def add(self, *, kind: str, name: str, until: str, reason: str | None, now: str) -> int:
        with transaction(self.conn) as conn:
            cursor = conn.execute(
                "INSERT INTO mutes (kind, name, until, reason, created_at) VALUES (?, ?, ?, ?, ?)",
                (kind, name, until, reason, now),
            )
            return int(cursor.lastrowid or 0)

    def active(self, now: str) -> list[tuple[int, str, str, str, str | None]]:
        """(id, kind, name, until, reason) of mutes that have not expired."""
        return [
            (r[0], r[1], r[2], r[3], r[4])
            for r in self.conn.execute(
                "SELECT id, kind, name, until, reason FROM mutes WHERE until > ? ORDER BY id",
                (now,),
            )
        ]

    def remove(
        self, *, mute_id: int | None = None, kind: str | None = None, name: str | None = None
    ) -> int:
        with transaction(self.conn) as conn:
            if mute_id is not None:
                return conn.execute("DELETE FROM mutes WHERE id = ?", (mute_id,)).rowcount
            return conn.execute(
                "DELETE FROM mutes WHERE kind = ? AND name = ?", (kind, name)
            ).rowcount
