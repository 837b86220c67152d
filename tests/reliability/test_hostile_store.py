"""A damaged store (issue 14): a file that existed and is now empty, not SQLite, another
application's, or of a newer schema is an error naming the file and the way out, never a
silent new baseline; `--fresh-store` moves it aside (deleting nothing) and starts anew."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from notifier.core.models import Event, Route, SnapshotRow
from notifier.core.samples import sample_event
from notifier.store.connection import StoreError, UnusableStore
from notifier.store.db import Store
from notifier.store.schema import MIGRATIONS
from tests.harness import REPO, Receiver, Sim, daemon_env, write_config

NOW = "2026-11-24T00:00:00.000000Z"


def _store_with_pending_deliveries(path: Path) -> None:
    """A real store: one job, one event, one delivery still pending."""
    store = Store(path)
    event: Event = sample_event()
    row = SnapshotRow(
        source=event.source,
        job_id=event.job_id,
        status=event.to_status,
        project_id=None,
        created_at=NOW,
        updated_at=NOW,
        status_since=NOW,
        transitions=1,
    )
    store.commit_cycle(
        name="extract_v2",
        scope="",
        now=NOW,
        rows=[row],
        events=[(event, [Route("everything", "hook")])],
        watermark=NOW,
        baseline_done=True,
    )
    assert store.outbox.counts()
    store.close()


def _truncate(path: Path) -> None:
    path.write_bytes(b"")


def _overwrite_header(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.write(b"\x00garbage, not the SQLite header\x00" * 4)


def _foreign(path: Path) -> None:
    for side in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        side.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    conn.close()


def _newer(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, 'from the future', ?)",
            (len(MIGRATIONS) + 1, NOW),
        )
    conn.close()


def _lone_wal(path: Path) -> None:
    """The database removed, its write-ahead log left behind."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("UPDATE outbox SET attempts = attempts + 1")
    conn.commit()
    copy = Path(f"{path}-wal").read_bytes()
    assert copy
    conn.close()
    path.unlink()
    Path(f"{path}-wal").write_bytes(copy)


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty": (_truncate, "is empty (0 bytes)"),
    "not-sqlite": (_overwrite_header, "is damaged or not a notifier store"),
    "foreign": (_foreign, "another application's tables (invoices)"),
    "newer": (_newer, f"schema version {len(MIGRATIONS) + 1}, newer"),
    "lone-wal": (_lone_wal, "is missing, but its write-ahead log"),
}


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_an_unusable_store_is_an_error_naming_the_file(tmp_path: Path, damage: str) -> None:
    """Opening refuses with one line naming the file and `--fresh-store`, and changes no byte
    (before: an empty file became a new store, a foreign one was migrated into, a newer one
    was used as it was)."""
    path = tmp_path / "notifier.db"
    _store_with_pending_deliveries(path)
    make, reason = DAMAGES[damage]
    make(path)
    before = _digest(tmp_path)
    with pytest.raises(UnusableStore) as caught:
        Store(path)
    message = str(caught.value)
    assert isinstance(caught.value, StoreError)
    assert "\n" not in message and str(path) in message and reason in message, message
    assert "--fresh-store" in message
    assert _digest(tmp_path) == before


def test_a_new_path_is_still_created(tmp_path: Path) -> None:
    """No file: a new store, migrated, as before; no draft left beside it."""
    path = tmp_path / "sub" / "notifier.db"
    store = Store(path)
    assert store.schema_version() == len(MIGRATIONS)
    store.close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["notifier.db"]
    Store(path).close()  # and it opens again


def test_an_sqlite_file_without_tables_is_migrated(tmp_path: Path) -> None:
    """An empty SQLite database (header, no tables) holds nothing to lose."""
    path = tmp_path / "n.db"
    sqlite3.connect(path).execute("PRAGMA user_version = 0").connection.close()
    with sqlite3.connect(path) as conn:
        conn.execute("VACUUM")
    conn.close()
    assert path.stat().st_size > 0
    store = Store(path)
    assert store.schema_version() == len(MIGRATIONS)
    store.close()


def _moved_aside(folder: Path) -> list[Path]:
    return sorted(folder.glob("notifier.db.damaged-*"))


async def _cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier",
        *args,
        env=daemon_env(),
        cwd=str(REPO),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_the_cli_refuses_then_starts_fresh_on_request(
    tmp_path: Path, sim: Sim, receiver: Receiver
) -> None:
    """`once` on a truncated store with deliveries pending exits 1 with one line; with
    `--fresh-store` the empty file is moved aside (kept) and a new store begins."""
    config = write_config(tmp_path / "config.yaml", sim.url, receiver.url)
    path = tmp_path / "notifier.db"
    _store_with_pending_deliveries(path)
    _truncate(path)

    code, err = await _cli("once", "--config", str(config))
    assert code == 1, err
    (line,) = [text for text in err.splitlines() if text.startswith("notifier:")]
    assert str(path) in line and "--fresh-store" in line
    assert "Traceback" not in err and path.stat().st_size == 0

    code, err = await _cli("once", "--fresh-store", "--config", str(config))
    assert code == 0, err
    (aside,) = _moved_aside(tmp_path)
    assert aside.stat().st_size == 0 and f"moved it to {aside}" in err
    store = Store(path)
    assert store.schema_version() == len(MIGRATIONS)
    store.close()

    # Asked again with a usable store, the flag changes nothing.
    code, err = await _cli("once", "--fresh-store", "--config", str(config))
    assert code == 0, err
    assert _moved_aside(tmp_path) == [aside]


def test_a_damaged_file_is_moved_aside_with_its_wal(tmp_path: Path) -> None:
    """The header overwritten, the WAL beside it: both are renamed together, so a recovery
    attempt can still open them as a pair."""
    from notifier.store.connection import set_aside

    path = tmp_path / "notifier.db"
    _store_with_pending_deliveries(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("UPDATE outbox SET attempts = 7")
    conn.commit()
    wal = Path(f"{path}-wal").read_bytes()
    assert wal
    conn.close()
    Path(f"{path}-wal").write_bytes(wal)
    _overwrite_header(path)
    aside = set_aside(path)
    assert not path.exists() and not Path(f"{path}-wal").exists()
    assert Path(f"{aside}-wal").read_bytes() == wal
    again = set_aside(tmp_path / "absent.db")  # nothing there: nothing moved, no error
    assert not again.exists()
