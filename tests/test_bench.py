"""The benchmarks' own fixtures stay in step with the schema (`make bench` is not run by CI).

A bench that writes rows by hand broke silently once a migration added a column; this runs
its writer at a small size against the current schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import memory
from notifier.store.db import Store


def test_memory_bench_snapshot_matches_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 rows: 10 running ones owned by the bench's scope, the rest finished."""
    monkeypatch.setattr(memory, "SNAPSHOT", 300)
    active = [f"ext-run-{n}" for n in range(10)]
    finished = [f"ext-fin-{n}" for n in range(20)]
    memory.populate(tmp_path / "bench.db", active, finished)
    store = Store(tmp_path / "bench.db")
    assert sorted(store.active_job_ids("extract_v2", "")) == sorted(active)
    count = store.conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    assert count == 300
    assert store.source_state("extract_v2", "").baseline_done
