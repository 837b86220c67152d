"""store: migrations, the one-transaction cycle commit and the outbox queries, on real files."""

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from notifier.core.models import Event, Route, SnapshotRow
from notifier.core.samples import sample_event
from notifier.store.db import Store
from notifier.store.schema import MIGRATIONS
from tests.harness import REPO

NOW = "2026-11-23T10:00:00.000000Z"
LATER = "2026-11-23T10:05:00.000000Z"


def snapshot(job_id: str, status: str) -> SnapshotRow:
    return SnapshotRow("extract_v2", job_id, status, "prj-1", NOW, NOW, NOW)


def event(ident: str, job_id: str = "ext-1", to_status: str = "RUNNING") -> Event:
    return sample_event(
        id=ident,
        job_id=job_id,
        from_status="PENDING",
        to_status=to_status,
        detected_at=NOW,
        job={"id": job_id, "weird": ["kept"]},
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "sub" / "notifier.db")


def commit(store: Store, rows: list[SnapshotRow], events: list[tuple[Event, list[Route]]]) -> int:
    return store.commit_cycle(
        name="extract_v2",
        scope="",
        now=NOW,
        rows=rows,
        events=events,
        watermark=NOW,
        baseline_done=True,
    )


class TestSchema:
    def test_migrations_are_recorded_and_wal_is_on(self, store: Store, tmp_path: Path) -> None:
        """A new file is created with its folder, migrated, and journaled in WAL mode."""
        assert store.schema_version() == 9
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        store.close()
        again = Store(tmp_path / "sub" / "notifier.db")
        assert again.schema_version() == 9
        assert [r[0] for r in again.conn.execute("SELECT version FROM schema_migrations")] == [
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
        ]


class TestCommitCycle:
    def test_rows_events_outbox_and_state_land_together(self, store: Store) -> None:
        """One call writes the snapshot, the event, one outbox row per route and the state."""
        queued = commit(
            store,
            [snapshot("ext-1", "RUNNING")],
            [(event("evt_a"), [Route("r", "hook"), Route("r", "slack")])],
        )
        assert queued == 2
        assert store.load_rows("extract_v2", ["ext-1"])["ext-1"].status == "RUNNING"
        assert store.list_events()[0].job == {"id": "ext-1", "weird": ["kept"]}
        assert [e.id for e in store.list_events(status="running")] == ["evt_a"]
        assert store.list_events(status="FAILED") == []
        state = store.source_state("extract_v2", "")
        assert state.baseline_done and state.watermark == NOW and state.cycles == 1
        assert store.active_job_ids("extract_v2", "") == ["ext-1"]

    def test_replayed_event_is_not_queued_twice(self, store: Store) -> None:
        """The same event id committed again (a replayed cycle) adds no outbox row."""
        commit(store, [], [(event("evt_a"), [Route("r", "hook")])])
        assert commit(store, [], [(event("evt_a"), [Route("r", "hook")])]) == 0
        assert len(store.outbox.list_deliveries()) == 1

    def test_failure_rolls_back_everything(self, store: Store) -> None:
        """An error inside the transaction leaves no snapshot row and no event behind."""
        # A channel that is no str, on purpose: SQLite cannot bind it, so the commit fails
        # inside its transaction.
        unbindable = Route("r", object())  # type: ignore[arg-type]
        with pytest.raises(sqlite3.Error):
            commit(store, [snapshot("ext-9", "RUNNING")], [(event("evt_b"), [unbindable])])
        assert store.load_rows("extract_v2", ["ext-9"]) == {}
        assert store.list_events() == []

    def test_terminal_jobs_leave_the_active_set(self, store: Store) -> None:
        """A job seen COMPLETED is no longer refreshed."""
        commit(store, [snapshot("ext-1", "RUNNING"), snapshot("ext-2", "PENDING")], [])
        commit(store, [snapshot("ext-1", "COMPLETED")], [])
        assert store.active_job_ids("extract_v2", "") == ["ext-2"]

    def test_active_jobs_belong_to_the_scope_that_listed_them(self, store: Store) -> None:
        """Whatever project the item names (all say prj-1 here). Rows from before scopes were
        kept go by their project, as they did: to prj-1 and to the no-project scope."""
        store.commit_jobs(scope="prj-a", now=NOW, rows=[snapshot("ext-a", "RUNNING")], events=[])
        store.commit_jobs(scope="prj-b", now=NOW, rows=[snapshot("ext-b", "RUNNING")], events=[])
        store.conn.execute("UPDATE jobs SET poll_scope = NULL WHERE job_id = 'ext-b'")
        store.commit_jobs(scope="prj-b", now=NOW, rows=[snapshot("ext-c", "RUNNING")], events=[])
        assert store.active_job_ids("extract_v2", "prj-a") == ["ext-a"]
        assert store.active_job_ids("extract_v2", "prj-b") == ["ext-c"]
        assert store.active_job_ids("extract_v2", "prj-1") == ["ext-b"]
        assert store.active_job_ids("extract_v2", "") == ["ext-b"]
        assert [s[:2] for s in store.active_summary("extract_v2", "prj-b")] == [("RUNNING", 1)]


class TestOutbox:
    def test_one_row_per_job_in_detection_order(self, store: Store) -> None:
        """A job's second transition waits until its first is no longer pending."""
        commit(store, [], [(event("evt_1", "ext-1", "RUNNING"), [Route("r", "hook")])])
        commit(store, [], [(event("evt_2", "ext-1", "COMPLETED"), [Route("r", "hook")])])
        commit(store, [], [(event("evt_3", "ext-2", "RUNNING"), [Route("r", "hook")])])
        due = store.outbox.due_deliveries("hook", LATER, 10)
        assert [d.event.id for d in due] == ["evt_1", "evt_3"]
        store.outbox.mark_delivered([due[0].id], LATER, 204)
        assert [d.event.id for d in store.outbox.due_deliveries("hook", LATER, 10)] == [
            "evt_2",
            "evt_3",
        ]

    def test_backoff_hides_rows_until_due_and_dead_can_be_requeued(self, store: Store) -> None:
        """A failed row is invisible until its next attempt; a dead one returns on requeue."""
        commit(store, [], [(event("evt_1"), [Route("r", "hook")])])
        (row,) = store.outbox.due_deliveries("hook", NOW, 10)
        store.outbox.mark_failed(row.id, error="HTTP 500", status=500, next_attempt_at=LATER)
        assert store.outbox.due_deliveries("hook", NOW, 10) == []
        assert store.outbox.next_due_at("hook") == LATER
        assert [d.attempts for d in store.outbox.list_deliveries(state="failed")] == [1]
        store.outbox.mark_failed(row.id, error="HTTP 404", status=404, next_attempt_at=None)
        (dead,) = store.outbox.list_deliveries(state="dead")
        assert (dead.last_status, dead.last_error, dead.attempts) == (404, "HTTP 404", 2)
        assert store.outbox.requeue(now=LATER, channel="hook") == 1
        assert [d.event.id for d in store.outbox.due_deliveries("hook", LATER, 10)] == ["evt_1"]
        assert store.outbox.counts() == {("hook", "pending"): 1}


class TestRetention:
    def test_prune_keeps_what_is_not_delivered(self, store: Store) -> None:
        """Old finished jobs and delivered rows go; pending and dead rows and their events stay."""
        commit(
            store,
            [snapshot("ext-1", "COMPLETED"), snapshot("ext-2", "RUNNING")],
            [
                (event("evt_done"), [Route("r", "hook")]),
                (event("evt_pending", "ext-3"), [Route("r", "hook")]),
                (event("evt_dead", "ext-4"), [Route("r", "hook")]),
            ],
        )
        by_event = {d.event.id: d.id for d in store.outbox.list_deliveries()}
        store.outbox.mark_delivered([by_event["evt_done"]], NOW)
        store.outbox.mark_failed(
            by_event["evt_dead"], error="HTTP 410", status=410, next_attempt_at=None
        )
        total = 0
        while deleted := store.prune(before=LATER, batch=1):
            total += deleted
        assert total == 3  # the delivered row, its event, the COMPLETED job
        assert {d.event.id for d in store.outbox.list_deliveries()} == {"evt_pending", "evt_dead"}
        assert {e.id for e in store.list_events()} == {"evt_pending", "evt_dead"}
        assert set(store.load_rows("extract_v2", ["ext-1", "ext-2"])) == {"ext-2"}
        assert store.prune(before=NOW) == 0  # nothing older than the cut-off: nothing deleted


class TestGroupsAndRepeats:
    def test_group_rows_wait_and_respect_the_interval(self, store: Store) -> None:
        """A grouped row is due after group_wait, and not before the group's interval ends."""
        route = Route("r", "slack", group_key="r|status=RUNNING", group_wait=30, group_interval=300)
        commit(store, [], [(event("evt_1"), [route])])
        (row,) = store.outbox.list_deliveries()
        assert (
            row.next_attempt_at == "2026-11-23T10:00:30.000000Z"
            and row.group_key == route.group_key
        )
        store.outbox.group_sent("slack", route.group_key or "", "2026-11-23T10:00:30.000000Z")
        commit(store, [], [(event("evt_2", "ext-2"), [route])])
        newest = store.outbox.list_deliveries()[0]
        assert newest.next_attempt_at == "2026-11-23T10:05:30.000000Z"  # last sent + 5 min
        assert [d.event.id for d in store.outbox.group_members("slack", route.group_key or "")] == [
            "evt_1",
            "evt_2",
        ]


def test_processes_opening_a_new_file_at_once_all_migrate_it(tmp_path: Path) -> None:
    """A daemon and CLI commands starting together on a new (or older) file: each migration
    is applied once, and no opener fails on one another applied first."""
    path = tmp_path / "race.db"
    code = (
        "import sys, time; from notifier.store.db import Store; "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); "  # all start at once
        "print(Store(sys.argv[1]).schema_version())"
    )
    start = str(time.time() + 2.0)
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(path), start],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = [opener.communicate(timeout=60) for opener in openers]
    assert [out.strip() for out, _ in results] == [str(len(MIGRATIONS))] * 8, results
