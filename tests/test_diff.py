"""core.diff: transitions, first sightings, baselines, deterministic ids and stuck stays."""

from datetime import timedelta
from typing import Unpack

from notifier.core.diff import STATUS_CHANGED, STUCK, diff_job, event_id
from notifier.core.models import Job, SnapshotRow
from notifier.core.samples import JobFields, sample_job

NOW = "2026-11-23T10:00:05.123000Z"


def job(status: str, /, **kw: Unpack[JobFields]) -> Job:
    fields = JobFields(
        job_id="ext-1",
        status=status,
        project_id="prj-1",
        created_at="2026-11-23T09:58:00.000000Z",
        updated_at="2026-11-23T10:00:01.000000Z",
        raw={"id": "ext-1", "status": status, "extra_field": 1},
    )
    return sample_job(**(fields | kw))


def row(status: str, **kw: object) -> SnapshotRow:
    fields: dict[str, object] = {
        "source": "extract_v2",
        "job_id": "ext-1",
        "status": status,
        "project_id": "prj-1",
        "created_at": "2026-11-23T09:58:00.000000Z",
        "updated_at": "2026-11-23T09:59:00.000000Z",
        "status_since": "2026-11-23T09:59:00.000000Z",
        "transitions": 2,
    }
    fields.update(kw)
    return SnapshotRow(**fields)  # type: ignore[arg-type]


class TestStatusChange:
    def test_change_emits_event_with_both_statuses(self) -> None:
        """A status that differs from the snapshot is a transition with from and to."""
        new_row, event = diff_job(
            row("RUNNING"), job("FAILED", error_message="boom"), now=NOW, notify_new=True
        )
        assert event is not None and new_row is not None
        assert (event.type, event.from_status, event.to_status) == (
            STATUS_CHANGED,
            "RUNNING",
            "FAILED",
        )
        assert event.phase == "failed"
        assert event.llamacloud_event == "extract.error"
        assert event.error_message == "boom"
        assert event.job["extra_field"] == 1
        assert (
            new_row.status == "FAILED" and new_row.transitions == 3 and new_row.status_since == NOW
        )

    def test_same_status_writes_nothing(self) -> None:
        """An unchanged job costs no write and no event."""
        assert diff_job(row("RUNNING"), job("RUNNING"), now=NOW, notify_new=True) == (None, None)

    def test_ids_are_deterministic(self) -> None:
        """Observing the same transition twice yields the same id."""
        _, first = diff_job(row("RUNNING"), job("THROTTLED"), now=NOW, notify_new=True)
        _, again = diff_job(
            row("RUNNING"), job("THROTTLED"), now="2026-11-24T00:00:00.000000Z", notify_new=True
        )
        assert first is not None and again is not None
        assert first.id == again.id
        assert first.id.startswith("evt_") and len(first.id) == 28

    def test_repeated_swing_gets_new_id(self) -> None:
        """RUNNING -> THROTTLED a second time is a new event, not a duplicate of the first."""
        _, first = diff_job(
            row("RUNNING", transitions=2), job("THROTTLED"), now=NOW, notify_new=True
        )
        _, second = diff_job(
            row("RUNNING", transitions=4), job("THROTTLED"), now=NOW, notify_new=True
        )
        assert first is not None and second is not None and first.id != second.id

    def test_unknown_status_still_produces_event(self) -> None:
        """A status nobody knows gets phase unknown and is not dropped."""
        _, event = diff_job(row("RUNNING"), job("REVIEWING"), now=NOW, notify_new=True)
        assert event is not None and event.phase == "unknown" and event.to_status == "REVIEWING"


class TestFirstSighting:
    def test_new_job_notified_from_null(self) -> None:
        """A job seen for the first time after the baseline is a transition from null."""
        new_row, event = diff_job(None, job("PENDING"), now=NOW, notify_new=True)
        assert new_row is not None and new_row.transitions == 0
        assert event is not None and event.from_status is None and event.to_status == "PENDING"
        assert event.id == event_id(STATUS_CHANGED, "extract_v2", "ext-1", None, "PENDING", 0)

    def test_baseline_records_silently(self) -> None:
        """During the baseline a job is remembered but not announced."""
        new_row, event = diff_job(None, job("COMPLETED"), now=NOW, notify_new=False)
        assert new_row is not None and new_row.status == "COMPLETED" and event is None


class TestStuck:
    def test_stuck_once_per_stay(self) -> None:
        """A long non-terminal stay is reported once, then remembered as reported."""
        long_ago = row("RUNNING", status_since="2026-11-23T09:00:00.000000Z")
        new_row, event = diff_job(
            long_ago, job("RUNNING"), now=NOW, notify_new=True, stuck_after=timedelta(minutes=30)
        )
        assert event is not None and event.type == STUCK and event.phase == "running"
        assert new_row is not None and new_row.stuck_notified
        assert diff_job(
            new_row, job("RUNNING"), now=NOW, notify_new=True, stuck_after=timedelta(minutes=30)
        ) == (None, None)

    def test_not_stuck_before_threshold_or_when_terminal(self) -> None:
        """Short stays and terminal jobs are never stuck."""
        recent = row("RUNNING", status_since="2026-11-23T09:50:00.000000Z")
        assert diff_job(
            recent, job("RUNNING"), now=NOW, notify_new=True, stuck_after=timedelta(minutes=30)
        ) == (None, None)
        done = row("COMPLETED", status_since="2026-11-01T00:00:00.000000Z")
        assert diff_job(
            done, job("COMPLETED"), now=NOW, notify_new=True, stuck_after=timedelta(minutes=30)
        ) == (None, None)

    def test_leaving_the_status_resets_the_stay(self) -> None:
        """After a status change the new stay can be reported again."""
        reported = row("RUNNING", status_since="2026-11-23T09:00:00.000000Z", stuck_notified=True)
        new_row, _ = diff_job(reported, job("THROTTLED"), now=NOW, notify_new=True)
        assert new_row is not None and not new_row.stuck_notified and new_row.status_since == NOW
