"""Opening the SQLite file the way every part of the store needs it, and transactions.

WAL, `synchronous=NORMAL`, foreign keys on, autocommit mode so that `transaction` alone
decides where a transaction begins and ends.

A new store is built under a temporary name and linked into place whole, so a file at the
store's path is always one that was a complete store once. One that is now empty, not
SQLite, another application's, or of a newer schema is `UnusableStore`: never re-created in
place as a silent new baseline; `set_aside` moves it (and its WAL) away for a fresh start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


class StoreError(Exception):
    """The database cannot be opened or written; the message names the file."""


FRESH_START = (
    "restore it from a backup, or start a new store with `notifier run --fresh-store` "
    "(moves it aside, deletes nothing)"
)


class UnusableStore(StoreError):
    """The store's file exists but is no store this notifier can use (empty, not SQLite,
    another application's tables, a newer schema): the one-line message names the file and
    the way out."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"the store {path} {reason}; {FRESH_START}")
        self.path = Path(path)
        self.reason = reason


_SIDE_FILES = ("-wal", "-shm", "-journal")
# SQLite's primary result codes for a file that is not, or no longer, a database.
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


_CORRUPT, _NOTADB = 11, 26  # SQLITE_CORRUPT, SQLITE_NOTADB (extended codes keep them low)


def is_corruption(error: BaseException) -> bool:
    """Whether an error means the file is damaged: fatal, unlike a full or read-only disk.

    Running on would fail every cycle and deliver nothing, for ever, without anyone being
    told; exiting lets the supervisor restart the daemon and the alerts fire.
    """
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_CORRUPT, _NOTADB)
    text = str(error)
    return "malformed" in text or "not a database" in text


def open_store(
    path: Path | str, *, prepare: Callable[[sqlite3.Connection], None], known_version: int
) -> sqlite3.Connection:
    """The store's connection, `prepare`d (migrated). A missing file is created whole; an
    existing one must be a store of at most `known_version`, else UnusableStore."""
    if str(path) == ":memory:":
        conn = open_connection(path)
        prepare(conn)
        return conn
    path = Path(path)
    if not path.exists():
        _create(path, prepare)
    elif path.is_file() and path.stat().st_size == 0:
        raise UnusableStore(path, "is empty (0 bytes): it was truncated or replaced")
    try:
        conn = _connect(path)
        try:
            _check_schema(conn, path, known_version)  # before anything writes to the file
            _configure(conn)
            prepare(conn)
        except BaseException:
            conn.close()
            raise
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorcode & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            raise UnusableStore(path, f"is damaged or not a notifier store ({exc})") from exc
        raise
    return conn


def _create(path: Path, prepare: Callable[[sqlite3.Connection], None]) -> None:
    """Build a new store beside `path` and link it into place, unless an opener racing this
    one got there first. A write-ahead log left without its database is refused: SQLite
    would replay it into the new file."""
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise UnusableStore(path, f"is missing, but its write-ahead log {wal} remains")
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.new-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        conn = open_connection(draft)
        try:
            prepare(conn)
        finally:
            conn.close()  # the last connection checkpoints: the file is whole by itself
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another opener linked its own: open that one
        except OSError:
            pass  # no hard links here: SQLite creates the file in place, as it always did
    finally:
        for name in (draft, *(Path(f"{draft}{side}") for side in _SIDE_FILES)):
            with contextlib.suppress(FileNotFoundError):
                name.unlink()


def _check_schema(conn: sqlite3.Connection, path: Path, known_version: int) -> None:
    tables = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if "schema_migrations" not in tables:
        if tables:  # an SQLite file with no tables at all holds nothing: it is migrated
            names = ", ".join(sorted(tables)[:5])
            raise UnusableStore(path, f"holds another application's tables ({names})")
        return
    version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0
    if version > known_version:
        raise UnusableStore(
            path,
            f"has schema version {version}, newer than this notifier knows ({known_version}):"
            " run the notifier that wrote it",
        )
    missing = {"jobs", "events", "outbox", "source_state"} - tables
    if version and missing:
        raise UnusableStore(path, f"lacks its tables {', '.join(sorted(missing))}")


def set_aside(path: Path | str, now: datetime | None = None) -> Path:
    """Rename an unusable store (and its WAL and shared-memory files) to
    `<name>.damaged-<UTC time>`, deleting nothing; the caller holds the store's lock."""
    path = Path(path)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    count = 1
    while aside.exists() or any(Path(f"{aside}{side}").exists() for side in _SIDE_FILES):
        count += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{count}")
    for side in ("", *_SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            os.rename(f"{path}{side}", f"{aside}{side}")
    return aside


def open_connection(path: Path | str) -> sqlite3.Connection:
    """A connection in WAL mode; the parent folder is created if missing."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return _configure(_connect(path))


def _connect(path: Path | str) -> sqlite3.Connection:
    return sqlite3.connect(str(path), isolation_level=None, timeout=30)


def _configure(conn: sqlite3.Connection) -> sqlite3.Connection:
    _use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL. On a new file several openers may race to switch it, and SQLite answers
    "locked" at once instead of waiting: try again for a few seconds."""
    for _ in range(100):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.05)
    conn.execute("PRAGMA journal_mode=WAL")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # SQLite may have rolled back already (a full disk does): keep the first error.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
