"""Realistic sample jobs and events, built in one place.

An `Event` has fourteen required fields, a `Job` eleven fields, and what a real one holds
is not obvious from the dataclass: the phase and the native event name follow from the
source and the status, only a failure carries an error message, the raw job repeats the id
and the status. Tests, the benchmarks and `notifier test-channel` all need such records;
writing them out by hand in each place repeats that knowledge and lets the copies drift
apart. Here is the one place that knows how a realistic record looks, and each caller
overrides only the fields it is about.

The defaults are a FAILED extract_v2 job that names itself a test (what `test-channel`
sends), and its RUNNING -> FAILED event. Fields that follow from others in a real record
follow the overrides here too, unless overridden themselves: `phase` and `llamacloud_event`
from `source` and `to_status`, `error_message` (only a failure has one) and the raw `job`
from `job_id` and `to_status`; likewise for a job from `job_id` and `status`.

Pure: nothing here reads the clock. Times default to one fixed moment, `SAMPLE_TIME`; a
caller that wants the present passes it (`detected_at=format_ts(now)`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypedDict, Unpack

from notifier.core.diff import STATUS_CHANGED
from notifier.core.models import Event, Job
from notifier.core.statuses import Phase, native_event, phase_of

SAMPLE_TIME = "2026-11-23T10:00:00.000000Z"
SAMPLE_SOURCE = "extract_v2"
SAMPLE_JOB_ID = "ext-00000000-0000-0000-0000-000000000000"
SAMPLE_PROJECT_ID = "prj-00000000-0000-0000-0000-000000000000"
SAMPLE_NAME = "notifier-test.pdf"
SAMPLE_ERROR = "This is a test message from `notifier test-channel`."
# What `test-channel` names an event sent at SAMPLE_TIME: "evt_test" and the time's digits.
SAMPLE_EVENT_ID = "evt_test2026112310000000"


class JobFields(TypedDict, total=False):
    """Any fields of a `Job`, as keyword overrides for `sample_job`."""

    source: str
    job_id: str
    status: str
    project_id: str | None
    created_at: str | None
    updated_at: str | None
    error_message: str | None
    name: str | None
    configuration_id: str | None
    extraction_agent_id: str | None
    raw: Mapping[str, Any]


class EventFields(TypedDict, total=False):
    """Any fields of an `Event`, as keyword overrides for `sample_event`."""

    id: str
    type: str
    source: str
    job_id: str
    project_id: str | None
    from_status: str | None
    to_status: str
    phase: str
    llamacloud_event: str
    error_message: str | None
    job_created_at: str | None
    job_updated_at: str | None
    detected_at: str
    job: Mapping[str, Any]
    name: str | None
    configuration_id: str | None
    extraction_agent_id: str | None


def _error_for(status: str) -> str | None:
    return SAMPLE_ERROR if phase_of(status) is Phase.FAILED else None


def sample_job(**overrides: Unpack[JobFields]) -> Job:
    """A FAILED extract_v2 job as a list endpoint returns it, with `overrides` applied."""
    job_id = overrides.get("job_id", SAMPLE_JOB_ID)
    status = overrides.get("status", "FAILED")
    job = Job(
        source=SAMPLE_SOURCE,
        job_id=job_id,
        status=status,
        project_id=SAMPLE_PROJECT_ID,
        created_at=SAMPLE_TIME,
        updated_at=SAMPLE_TIME,
        error_message=_error_for(status),
        name=SAMPLE_NAME,
        raw={"id": job_id, "status": status},
    )
    return replace(job, **overrides)


def sample_event(**overrides: Unpack[EventFields]) -> Event:
    """The RUNNING -> FAILED event of an extract_v2 job, with `overrides` applied."""
    source = overrides.get("source", SAMPLE_SOURCE)
    job_id = overrides.get("job_id", SAMPLE_JOB_ID)
    to_status = overrides.get("to_status", "FAILED")
    event = Event(
        id=SAMPLE_EVENT_ID,
        type=STATUS_CHANGED,
        source=source,
        job_id=job_id,
        project_id=SAMPLE_PROJECT_ID,
        from_status="RUNNING",
        to_status=to_status,
        phase=phase_of(to_status).value,
        llamacloud_event=native_event(source, to_status),
        error_message=_error_for(to_status),
        job_created_at=SAMPLE_TIME,
        job_updated_at=SAMPLE_TIME,
        detected_at=SAMPLE_TIME,
        job={"id": job_id, "status": to_status},
        name=SAMPLE_NAME,
    )
    return replace(event, **overrides)
