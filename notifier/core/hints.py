"""LlamaCloud's own webhooks, read as hints: which job (or which family) may have changed.

A hint is never the truth: it only makes the daemon re-read the job from the API, so the
body is read leniently (its format is not fully documented) and nothing in it is trusted
but the id it names. Pure: the caller does the I/O and passes the raw body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from notifier.core.statuses import SourceType

MAX_HINT_BYTES = 1 << 20  # 1 MiB: past it a body is refused (413)
_MAX_ID = 256
_ID_KEYS = ("job_id", "jobId", "id", "extract_job_id", "parse_job_id", "run_id")
_EVENT_KEYS = ("event_type", "event", "type", "eventType", "event_name")
# The families a native event name points at.
_FAMILIES: dict[str, tuple[SourceType, ...]] = {
    "extract": (SourceType.EXTRACT_V2, SourceType.EXTRACTION_V1, SourceType.EXTRACT_RUNS_V1),
    "parse": (SourceType.PARSE_V2,),
}


class BadHint(ValueError):
    """The body is not a JSON object; answered 400."""


@dataclass(frozen=True, slots=True)
class Hint:
    """What a native webhook names: a job id (when it has one) and an event such as
    `extract.success` (when it has one)."""

    job_id: str | None
    event: str | None

    @property
    def sources(self) -> tuple[SourceType, ...]:
        """The source families the event points at; every family when it names none."""
        family = (self.event or "").partition(".")[0]
        return _FAMILIES.get(family, tuple(SourceType))


def _text(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= _MAX_ID and value.isprintable():
        return value
    return None


def _find(body: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of `keys` at the top, then under `data`, `job` or `data.job`."""
    places: list[Mapping[str, Any]] = [body]
    for outer in ("data", "job", "payload"):
        nested = body.get(outer)
        if isinstance(nested, Mapping):
            places.append(nested)
            inner = nested.get("job")
            if isinstance(inner, Mapping):
                places.append(inner)
    for place in places:
        for key in keys:
            found = _text(place.get(key))
            if found is not None:
                return found
    return None


def read_hint(body: bytes) -> Hint:
    """The hint in a webhook body; BadHint when it is not a JSON object."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        raise BadHint("the body is not JSON") from None
    if not isinstance(decoded, Mapping):
        raise BadHint("the body is not a JSON object")
    event = _find(decoded, _EVENT_KEYS)
    if event is not None and "." not in event:
        event = None  # `type: "job"`: not a native event name
    return Hint(_find(decoded, _ID_KEYS), event)


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """`LC-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, compared in constant time."""
    if not header:
        return False
    scheme, _, given = header.strip().partition("=")
    if scheme.strip().lower() != "sha256":
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def bearer_matches(token: str, header: str | None) -> bool:
    """`Authorization: Bearer <token>` (the scheme in any case), in constant time."""
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
