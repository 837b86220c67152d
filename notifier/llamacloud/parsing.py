"""API items -> `Job`s, tolerantly: one bad item is skipped with a warning, never the page.

Pure (no I/O). Unknown fields stay in `Job.raw`; unknown statuses are kept as they are.

Text no store can hold costs only its item. A lone surrogate (JSON `"\\ud800"`, or an invalid
UTF-8 byte, which the client decodes as one) in the id or the status skips the item by name:
a changed id could never be re-read by `job_ids`. Anywhere else, in values and keys alike, it
becomes U+FFFD, and a number no JSON reader takes (`1e400`, `NaN`) becomes null, so that the
event's JSON, the SQLite row and every payload can always be written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Protocol

from notifier.core.models import Job
from notifier.core.statuses import SourceType
from notifier.core.timestamps import normalize_ts

_ID_PREVIEW = 100
# Real ids are 36-40 characters. A job must be re-readable through the `job_ids` filter; an id
# long enough to overflow the request line would fail that refresh every cycle, so it is bad.
MAX_ID_LENGTH = 256
# Real items nest a few levels; the event and batch payloads add some, and every JSON writer
# has a depth limit. Deeper is junk, skipped rather than failing a commit or a delivery.
MAX_DEPTH = 64
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class Logger(Protocol):
    def warning(self, event: str, **kw: Any) -> Any: ...


class MalformedResponse(Exception):
    """A response whose envelope (not one item) cannot be read."""


def _text(value: object) -> str | None:
    """A string field as text; numbers become text, anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


class _TooDeep(Exception):
    pass


def _clean(value: Any, depth: int = 0) -> Any:
    """A copy with lone surrogates replaced (U+FFFD) and non-finite numbers nulled."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        raise _TooDeep
    if isinstance(value, dict):
        return {_clean(k): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    return value


def printable(text: str) -> str:
    """Text safe to log or store: a lone surrogate shown as its escape (`\\ud800`)."""
    if not _LONE_SURROGATE.search(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _nested(item: Mapping[str, Any], outer: str, inner: str) -> object:
    value = item.get(outer)
    return value.get(inner) if isinstance(value, Mapping) else None


def _job(source: str, item: Mapping[str, Any]) -> Job:
    """The fields the notifier reasons about, from wherever each source puts them."""
    fields: dict[str, Any] = {}
    if source in (SourceType.EXTRACT_V2, SourceType.PARSE_V2):
        fields = {
            "project_id": _text(item.get("project_id")),
            "created_at": normalize_ts(item.get("created_at")),
            "updated_at": normalize_ts(item.get("updated_at")),
            "error_message": _text(item.get("error_message")),
            "configuration_id": _text(item.get("configuration_id")),
            "name": _text(item.get("name"))
            or _text(item.get("file_name"))
            or _text(_nested(item, "file", "name")),
        }
    elif source == SourceType.EXTRACTION_V1:
        # v1 jobs carry no timestamps or project of their own: the page nests them in the
        # file and agent objects (SPEC section 3: take them from there).
        fields = {
            "project_id": _text(_nested(item, "file", "project_id"))
            or _text(_nested(item, "extraction_agent", "project_id")),
            "created_at": normalize_ts(_nested(item, "file", "created_at")),
            "updated_at": normalize_ts(_nested(item, "file", "updated_at")),
            "error_message": _text(item.get("error")),
            "extraction_agent_id": _text(_nested(item, "extraction_agent", "id"))
            or _text(item.get("extraction_agent_id")),
            "name": _text(_nested(item, "file", "name")),
        }
    elif source == SourceType.EXTRACT_RUNS_V1:
        fields = {
            "project_id": _text(_nested(item, "file", "project_id")),
            "created_at": normalize_ts(item.get("created_at")),
            "updated_at": normalize_ts(item.get("updated_at")),
            "error_message": _text(item.get("error")),
            "extraction_agent_id": _text(item.get("extraction_agent_id")),
            "name": _text(_nested(item, "file", "name")),
        }
    return Job(source=source, job_id=item["id"], status=item["status"], raw=item, **fields)


_NOT_TEXT = "is not valid text (a lone surrogate or an invalid UTF-8 byte)"


def _unreadable(item: dict[str, Any]) -> str | None:
    """Why the item cannot be a Job, or None."""
    raw_id, status = item.get("id"), item.get("status")
    if not isinstance(raw_id, str) or not raw_id.strip():
        return "no string id"
    if len(raw_id) > MAX_ID_LENGTH:
        return f"id longer than {MAX_ID_LENGTH} characters"
    if _LONE_SURROGATE.search(raw_id):
        return f"id {_NOT_TEXT}"
    if not isinstance(status, str) or not status:
        return "no string status"
    if _LONE_SURROGATE.search(status):
        return f"status {_NOT_TEXT}"
    return None


def parse_items(source: str, items: object, log: Logger | None = None) -> list[Job]:
    """Every readable item as a Job; unreadable ones skipped with a warning that names them."""
    if not isinstance(items, list):
        raise MalformedResponse(f"{source}: expected a list of items")
    jobs: list[Job] = []
    for position, item in enumerate(items):
        item_id = None
        if not isinstance(item, dict):
            reason: str | None = f"item is a {type(item).__name__}, not an object"
        else:
            raw_id = item.get("id")
            item_id = printable(raw_id[:_ID_PREVIEW]) if isinstance(raw_id, str) else None
            reason = _unreadable(item)
        if reason is None:
            try:
                jobs.append(_job(source, _clean(item)))
                continue
            except _TooDeep:
                reason = f"nested deeper than {MAX_DEPTH} levels"
            except (TypeError, ValueError, KeyError) as exc:  # pragma: no cover - defensive
                reason = printable(f"{type(exc).__name__}: {exc}")
        if log is not None:
            log.warning(
                "skipped_item", source=source, item_id=item_id, position=position, reason=reason
            )
    return jobs


def parse_page(
    source: str, body: object, log: Logger | None = None
) -> tuple[list[Job], str | None]:
    """A v2 envelope `{items, next_page_token}`, or a v1 JSON array (no next page)."""
    if source in (SourceType.EXTRACTION_V1, SourceType.EXTRACT_RUNS_V1):
        return parse_items(source, body, log), None
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise MalformedResponse(f"{source}: expected an object with an `items` list")
    token = body.get("next_page_token")
    if isinstance(token, str) and _LONE_SURROGATE.search(token):
        # Sent back as is it cannot be; changed, it would name another page.
        raise MalformedResponse(f"{source}: the next_page_token is not valid text")
    return parse_items(source, body["items"], log), token if isinstance(
        token, str
    ) and token else None
