"""A store page damaged on disk while the daemon is stopped: the daemon starts, meets the
damage, says so once and exits 1 (its supervisor restarts it and alerts fire), instead of
running on, failing every cycle and delivering nothing for ever."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from notifier.core.models import Route, SnapshotRow
from notifier.core.samples import sample_event
from notifier.store.connection import is_corruption
from notifier.store.db import Store
from tests.harness import REPO, Receiver, Sim, daemon_env, write_config

pytestmark = pytest.mark.timeout(90)
NOW = "2026-11-24T00:00:00.000000Z"


def _store_with_outbox(path: Path, rows: int = 400) -> None:
    """Enough pending deliveries that the outbox spans pages of its own."""
    store = Store(path)
    events = [
        (sample_event(id=f"evt_{n:05d}", job_id=f"ext-{n}"), [Route("everything", "hook")])
        for n in range(rows)
    ]
    snapshot = [
        SnapshotRow("extract_v2", f"ext-{n}", "FAILED", None, NOW, NOW, NOW, 1) for n in range(rows)
    ]
    store.commit_cycle(
        name="extract_v2",
        scope="",
        now=NOW,
        rows=snapshot,
        events=events,
        watermark=NOW,
        baseline_done=True,
    )
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def _damage_outbox(path: Path) -> None:
    """Overwrite the outbox table's root page with junk, as a bad disk block would."""
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'outbox'").fetchone()
    conn.close()
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xa5" * page_size)


def test_corruption_is_told_apart_from_a_full_or_read_only_disk(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    _store_with_outbox(path)
    _damage_outbox(path)
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError) as caught:
        conn.execute("SELECT sum(length(channel)) FROM outbox NOT INDEXED").fetchone()
    assert is_corruption(caught.value)
    assert not is_corruption(sqlite3.OperationalError("database or disk is full"))
    assert not is_corruption(sqlite3.OperationalError("attempt to write a readonly database"))


async def test_the_daemon_exits_1_on_a_damaged_page(
    sim: Sim, receiver: Receiver, tmp_path: Path
) -> None:
    """`notifier run` on a store whose outbox page is damaged: exit 1 within seconds, one
    line naming the file and the way to recover, one `store_damaged` log line."""
    store = tmp_path / "notifier.db"
    _store_with_outbox(store)
    _damage_outbox(store)
    config = write_config(tmp_path / "config.yaml", sim.url, receiver.url)
    log = (tmp_path / "daemon.log").open("w")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier",
        "run",
        "--config",
        str(config),
        env=daemon_env(),
        cwd=str(REPO),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
    )
    code = await asyncio.wait_for(process.wait(), 45)
    log.close()
    text = (tmp_path / "daemon.log").read_text()
    assert code == 1, text[-2000:]
    assert text.count('"store_damaged"') == 1
    assert f"notifier: the store {store} is damaged" in text and ".recover" in text
    assert "Traceback" not in text
