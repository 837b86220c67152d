"""The webhook payload of SPEC section 3, built the same way byte for byte on every attempt."""

from __future__ import annotations

import json
from typing import Any

from notifier.core.models import Event
from notifier.core.notices import NOTICE_TYPES
from notifier.core.timestamps import parse_ts


def iso_ms(value: str | None) -> str | None:
    """`2026-11-23T10:00:05.123Z`: the millisecond form the payload uses for every time."""
    moment = parse_ts(value)
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def webhook_payload(event: Event, rule: str) -> dict[str, Any]:
    """The event as receivers see it; `rule` is the first rule that routed it to this channel.

    A notice (a digest, a watchdog trouble) carries its own body as `data`."""
    if event.type in NOTICE_TYPES:
        return {
            "type": event.type,
            "id": event.id,
            "timestamp": iso_ms(event.detected_at),
            "data": {**event.job, "rule": rule},
        }
    return {
        "type": event.type,
        "id": event.id,
        "timestamp": iso_ms(event.detected_at),
        "data": {
            "source": event.source,
            "job_id": event.job_id,
            "project_id": event.project_id,
            "from_status": event.from_status,
            "to_status": event.to_status,
            "phase": event.phase,
            "llamacloud_event": event.llamacloud_event,
            "error_message": event.error_message,
            "job_created_at": iso_ms(event.job_created_at),
            "job_updated_at": iso_ms(event.job_updated_at),
            "detected_at": iso_ms(event.detected_at),
            "detected_by": event.detected_by,
            "rule": rule,
            "job": dict(event.job),
        },
    }


def event_record(event: Event) -> dict[str, Any]:
    """The payload without `data.rule`: how history (CLI, JSON API) shows an event."""
    record = webhook_payload(event, rule="")
    del record["data"]["rule"]
    if event.type in NOTICE_TYPES:  # history lists notices beside transitions, same columns
        record["data"].update(
            source=event.source,
            job_id=event.job_id,
            from_status=None,
            to_status=event.to_status,
            detected_at=iso_ms(event.detected_at),
        )
    return record


def payload_bytes(event: Event, rule: str) -> bytes:
    """Compact UTF-8 JSON: identical bytes for identical events, so retries sign the same body."""
    return json.dumps(
        webhook_payload(event, rule), ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")
