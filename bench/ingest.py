"""Observations per second applied to the snapshot: read rows, diff, one transaction per batch.

Three passes over the same jobs: all new (inserts), all changed (updates and events), all
unchanged (the steady state: reads only). Compared with SQLite's own upsert speed on the same
file, measured with a bare executemany of the same rows, and with sqlite-utils' `upsert_all`
of those rows (the library the store reads through, measured for its writes).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from notifier.core.diff import diff_job
from notifier.core.models import Event, Job, Route
from notifier.store.db import Store

COUNT = 200_000
BATCH = 10_000
NOW = "2026-11-24T12:00:00.000000Z"
ROUTES = [Route("all", "hook")]


@dataclass
class Figures:
    label: str
    per_second: float


def _jobs(status: str) -> list[Job]:
    return [
        Job(
            source="extract_v2",
            job_id=f"ext-{n:032d}",
            status=status,
            project_id="prj-1",
            created_at=NOW,
            updated_at=NOW,
            raw={"id": f"ext-{n:032d}", "status": status},
        )
        for n in range(COUNT)
    ]


def _apply(store: Store, jobs: Sequence[Job], *, notify: bool) -> float:
    started = time.perf_counter()
    for start in range(0, len(jobs), BATCH):
        batch = jobs[start : start + BATCH]
        previous = store.load_rows("extract_v2", (j.job_id for j in batch))
        rows, events = [], []
        for job in batch:
            row, event = diff_job(previous.get(job.job_id), job, now=NOW, notify_new=notify)
            if row is not None:
                rows.append(row)
            if event is not None:
                events.append((event, ROUTES))
        if rows or events:
            store.commit_cycle(
                name="extract_v2",
                scope="",
                now=NOW,
                rows=rows,
                events=_no_outbox(events),
                watermark=None,
                baseline_done=True,
            )
    return len(jobs) / (time.perf_counter() - started)


def _no_outbox(events: list[tuple[Event, list[Route]]]) -> list[tuple[Event, Sequence[Route]]]:
    return list(events)


def _raw_upsert(path: Path, jobs: Sequence[Job]) -> float:
    """SQLite alone: the same rows through one executemany per batch, no diff, no events."""
    store = Store(path)
    started = time.perf_counter()
    for start in range(0, len(jobs), BATCH):
        with store.transaction() as conn:
            conn.executemany(
                "INSERT INTO jobs (source, job_id, status, project_id, created_at, updated_at, "
                "status_since, transitions, stuck_notified, terminal) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, 0, 0, 0) ON CONFLICT (source, job_id) DO UPDATE SET "
                "status = excluded.status",
                [
                    (j.source, j.job_id, j.status, j.project_id, j.created_at, j.updated_at, NOW)
                    for j in jobs[start : start + BATCH]
                ],
            )
    rate = len(jobs) / (time.perf_counter() - started)
    store.close()
    return rate


def _sqlite_utils_upsert(path: Path, jobs: Sequence[Job]) -> float:
    """The same rows through sqlite-utils' `upsert_all`: what the store would pay if it used
    the library for its writes (it reads through it)."""
    store = Store(path)
    started = time.perf_counter()
    table = store.db.table("jobs")
    for start in range(0, len(jobs), BATCH):
        with store.transaction():
            table.upsert_all(
                (
                    {
                        "source": j.source,
                        "job_id": j.job_id,
                        "status": j.status,
                        "project_id": j.project_id,
                        "created_at": j.created_at,
                        "updated_at": j.updated_at,
                        "status_since": NOW,
                        "transitions": 0,
                        "stuck_notified": 0,
                        "terminal": 0,
                    }
                    for j in jobs[start : start + BATCH]
                ),
                pk=("source", "job_id"),
                batch_size=BATCH,
            )
    rate = len(jobs) / (time.perf_counter() - started)
    store.close()
    return rate


def run() -> list[Figures]:
    pending, running = _jobs("PENDING"), _jobs("RUNNING")
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "ingest.db")
        new = _apply(store, pending, notify=False)
        changed = _apply(store, running, notify=True)
        unchanged = _apply(store, running, notify=True)
        store.close()
        raw = _raw_upsert(Path(folder) / "raw.db", pending)
        library = _sqlite_utils_upsert(Path(folder) / "library.db", pending)
    return [
        Figures("new jobs (baseline inserts)", new),
        Figures("changed jobs (updates + events + outbox rows)", changed),
        Figures("unchanged jobs (steady state)", unchanged),
        Figures("SQLite alone: bare upsert of the same rows", raw),
        Figures("sqlite-utils upsert_all of the same rows", library),
    ]


def report(figures: list[Figures]) -> str:
    lines = ["| observations | per second |", "| --- | ---: |"]
    lines += [f"| {f.label} | {f.per_second:,.0f} |" for f in figures]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
