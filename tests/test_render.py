"""core.render: the webhook payload of SPEC section 3."""

import json

from notifier.core.messages import Kind, render_message
from notifier.core.models import Event
from notifier.core.render import payload_bytes, webhook_payload
from notifier.core.samples import sample_event


def event() -> Event:
    return sample_event(
        id="evt_5c2f0e9b1d7a4c3e8f60a2b1",
        job_id="ext-1",
        project_id="prj-1",
        error_message="boom",
        job_created_at="2026-11-23T09:58:00.000000Z",
        job_updated_at="2026-11-23T10:00:01.000000Z",
        detected_at="2026-11-23T10:00:05.123456Z",
        job={"id": "ext-1", "status": "FAILED", "new_field": [1, 2]},
    )


def test_payload_matches_the_contract() -> None:
    """Every field of the SPEC example, with millisecond UTC times and the raw job."""
    assert webhook_payload(event(), "failures-to-slack") == {
        "type": "job.status_changed",
        "id": "evt_5c2f0e9b1d7a4c3e8f60a2b1",
        "timestamp": "2026-11-23T10:00:05.123Z",
        "data": {
            "source": "extract_v2",
            "job_id": "ext-1",
            "project_id": "prj-1",
            "from_status": "RUNNING",
            "to_status": "FAILED",
            "phase": "failed",
            "llamacloud_event": "extract.error",
            "error_message": "boom",
            "job_created_at": "2026-11-23T09:58:00.000Z",
            "job_updated_at": "2026-11-23T10:00:01.000Z",
            "detected_at": "2026-11-23T10:00:05.123Z",
            "detected_by": "poll",
            "rule": "failures-to-slack",
            "job": {"id": "ext-1", "status": "FAILED", "new_field": [1, 2]},
        },
    }


def test_bytes_are_stable() -> None:
    """Two renders of one event are byte-identical, so every retry signs the same body."""
    assert payload_bytes(event(), "r") == payload_bytes(event(), "r")
    assert json.loads(payload_bytes(event(), "r"))["data"]["rule"] == "r"


def test_default_text_message_names_the_essentials() -> None:
    """Default messages name source, job, project, from -> to and the error."""
    message = render_message(Kind.TEXT, [event()], "failures")
    assert message.title == "extract_v2 job ext-1: RUNNING -> FAILED"
    for part in ("extract_v2", "ext-1", "prj-1", "RUNNING -> FAILED", "boom"):
        assert part in message.body
