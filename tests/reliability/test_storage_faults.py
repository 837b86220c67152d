"""Storage faults: a full disk and a read-only database give clear errors, lose nothing and
leave the file intact (`PRAGMA integrity_check`)."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.core.rules import Rule, When
from notifier.core.statuses import SourceType
from notifier.llamacloud.client import LlamaCloudClient
from notifier.polling.poller import Poller, PollOptions, PollTarget
from notifier.simulator import Simulator, start_simulator
from notifier.store.connection import StoreError
from notifier.store.db import Store
from tests.harness import API_KEY, REPO, daemon_env, write_config

TARGET = PollTarget(name="extract_v2", source="extract_v2", scope="")


@pytest.fixture
async def simulator() -> AsyncIterator[tuple[str, Simulator]]:
    runner, url, sim = await start_simulator(api_key=API_KEY)
    yield url, sim
    await runner.cleanup()


def integrity(path: Path) -> str:
    # immutable: a read-only file system has no room for the WAL's shared-memory file
    with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


async def test_full_disk_fails_the_cycle_then_recovers(
    simulator: tuple[str, Simulator], tmp_path: Path
) -> None:
    """SQLITE_FULL mid-cycle rolls the cycle back; once space returns, every transition lands."""
    url, sim = simulator
    store = Store(tmp_path / "n.db")
    async with LlamaCloudClient(
        url, API_KEY, max_requests_per_second=1000, rng=random.Random(0)
    ) as client:
        poller = Poller(
            client,
            store,
            [Rule("all", When(), ("hook",))],
            PollOptions(initial_sync="notify"),
            clock=lambda: datetime.now(UTC),
        )
        await poller.poll(TARGET)
        jobs = [
            sim.jobs.create(SourceType.EXTRACT_V2, "RUNNING", name="x" * 2000).id
            for _ in range(300)
        ]
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # the disk is nearly full
        with pytest.raises(sqlite3.OperationalError, match="full"):
            await poller.poll(TARGET)
        assert store.load_rows("extract_v2", jobs) == {}  # nothing half-written
        store.conn.execute("PRAGMA max_page_count = 1073741823")  # space again
        result = await poller.poll(TARGET)
    assert {e.job_id for e in result.events} == set(jobs)
    assert len(store.outbox.list_deliveries(limit=1000)) == 300
    store.close()
    assert integrity(tmp_path / "n.db") == "ok"


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory whose files cannot be written, even by root (a read-only tmpfs)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        yield folder
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("running as root without permission to mount a read-only tmpfs")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def make_readonly(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    else:
        for path in [*folder.iterdir(), folder]:
            path.chmod(0o555 if path.is_dir() else 0o444)


def test_read_only_database_is_a_clear_error(readonly_dir: Path) -> None:
    """`notifier run` on a read-only store exits 1 naming the file; the file stays intact."""
    db = readonly_dir / "notifier.db"
    Store(db).close()
    make_readonly(readonly_dir)
    with pytest.raises(StoreError, match=str(db)):
        store = Store(db)
        store.commit_cycle(
            name="x",
            scope="",
            now="2026-11-24T00:00:00.000000Z",
            rows=[],
            events=[],
            watermark=None,
            baseline_done=True,
        )
    config = write_config(
        readonly_dir.parent / "config.yaml",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9/hook",
        store={"path": str(db)},
    )
    result = subprocess.run(
        [sys.executable, "-m", "notifier", "once", "--config", str(config)],
        capture_output=True,
        text=True,
        env=daemon_env(),
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "notifier:" in result.stderr and "notifier.db" in result.stderr
    assert "Traceback" not in result.stderr
    assert integrity(db) == "ok"
