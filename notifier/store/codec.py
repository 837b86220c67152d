"""Events as the store keeps them: JSON of every field, the raw job included."""

from __future__ import annotations

import json
from dataclasses import fields

from notifier.core.models import Event

_EVENT_FIELDS = tuple(f.name for f in fields(Event))


def event_to_json(event: Event) -> str:
    """The event as stored: every field, the raw job included (no deep copy, unlike asdict)."""
    body = {name: getattr(event, name) for name in _EVENT_FIELDS}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def event_from_json(text: str) -> Event:
    """The inverse of `event_to_json`."""
    return Event(**json.loads(text))
