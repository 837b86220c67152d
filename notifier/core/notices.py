"""Notices: what the notifier says of its own accord (digests, the watchdog's troubles), as
events of the log, so they travel the outbox like any delivery: recorded once under a
deterministic id, retried, dead-lettered, listed, replayed.

A notice is an `Event` of source `notifier` whose `job` holds the notice's own body (a
`title`, a `text` for people, and the structured fields receivers read); webhooks get that
body as `data`, apprise targets the title and text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from notifier.core.models import Event

DIGEST = "digest"
TROUBLE = "notifier.trouble"
RESOLVED = "notifier.resolved"
NOTICE_TYPES = frozenset({DIGEST, TROUBLE, RESOLVED})
NOTICE_SOURCE = "notifier"


def is_notice(event: Event) -> bool:
    return event.type in NOTICE_TYPES


def notice_id(prefix: str, *parts: str) -> str:
    """`prefix_` + 24 hex digits of the parts: the same notice always gets the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]
    return f"{prefix}_{digest}"


def notice_event(
    *,
    type_: str,
    id_: str,
    key: str,
    state: str,
    at: str,
    title: str,
    text: str,
    data: Mapping[str, Any],
) -> Event:
    """The event that carries a notice; `key` names what it is about (a rule, a trouble)."""
    return Event(
        id=id_,
        type=type_,
        source=NOTICE_SOURCE,
        job_id=key,
        project_id=None,
        from_status=None,
        to_status=state,
        phase="unknown",
        llamacloud_event="",
        error_message=None,
        job_created_at=None,
        job_updated_at=None,
        detected_at=at,
        job={"title": title, "text": text, **data},
    )


def notice_title(event: Event) -> str:
    return str(event.job.get("title", event.type))


def notice_text(event: Event) -> str:
    return str(event.job.get("text", ""))
