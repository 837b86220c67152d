"""Titles and bodies for people: sandboxed Jinja2 templates with defaults per kind of target.

Text from the API (file names, job names, error messages) is escaped for its target: HTML is
auto-escaped in email, and Slack bodies go out as plain text that apprise entity-escapes, so
`<!channel>` in a file name cannot ping anyone. Pure: no I/O beyond reading the packaged
templates once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from notifier.core.models import Event
from notifier.core.notices import is_notice, notice_text, notice_title
from notifier.core.render import event_record

TRUNCATED = "… [truncated]"
SHOWN_IN_GROUP = 10


class Kind(StrEnum):
    """The families of targets whose messages differ."""

    SLACK = "slack"
    EMAIL = "email"
    TEXT = "text"


# (title, body) character limits, kept under what each target accepts.
LIMITS = {Kind.SLACK: (250, 3500), Kind.EMAIL: (200, 100_000), Kind.TEXT: (250, 1900)}
_EMOJI = {
    "queued": ":hourglass_flowing_sand:",
    "throttled": ":snail:",
    "running": ":arrow_forward:",
    "succeeded": ":white_check_mark:",
    "partial": ":large_yellow_circle:",
    "failed": ":x:",
    "cancelled": ":no_entry_sign:",
    "unknown": ":grey_question:",
}


def target_kind(url: str) -> Kind:
    """Slack and email get their own layouts; every other apprise target plain text."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "slack" or (scheme == "https" and parts.hostname == "hooks.slack.com"):
        return Kind.SLACK
    if scheme in ("mailto", "mailtos"):
        return Kind.EMAIL
    return Kind.TEXT


def emoji(phase: str, event_type: str = "job.status_changed") -> str:
    """A Slack emoji for the phase (stuck jobs get an alarm clock)."""
    return ":alarm_clock:" if event_type == "job.stuck" else _EMOJI.get(phase, ":grey_question:")


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, ending in a marker when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(TRUNCATED))].rstrip() + TRUNCATED


class TemplateFailure(ValueError):
    """A template that does not render (bad syntax, or an unsafe access the sandbox stopped)."""


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    html: bool = False


@dataclass(frozen=True, slots=True)
class Overrides:
    """User templates for a channel or rule (Jinja2 source text); None keeps the default."""

    title: str | None = None
    body: str | None = None


def _event_context(event: Event) -> dict[str, Any]:
    """What a template sees of one event: the payload's `data`, plus `type` and `id`."""
    data = event_record(event)["data"]
    # Bounded here so a huge API string cannot crowd out the rest (or cut HTML mid-tag).
    if event.error_message is not None:
        data["error_message"] = truncate(event.error_message, 1000)
    data["name"] = None if event.name is None else truncate(event.name, 200)
    return {**data, "type": event.type, "id": event.id}


def _summary(events: Sequence[Event]) -> str:
    statuses = {e.to_status for e in events}
    sources = {e.source for e in events}
    what = f"{next(iter(sources))} jobs" if len(sources) == 1 else "jobs"
    return f"{next(iter(statuses))} {what}" if len(statuses) == 1 else f"{what} changed status"


@cache
def _environments() -> tuple[Any, Any]:
    """(plain, html-autoescaping) sandboxed environments; jinja2 is imported only when needed."""
    from jinja2 import ChainableUndefined  # noqa: PLC0415 -- keep start-up fast
    from jinja2.sandbox import SandboxedEnvironment  # noqa: PLC0415 -- as above

    options: dict[str, Any] = {"undefined": ChainableUndefined, "keep_trailing_newline": False}
    return (
        SandboxedEnvironment(autoescape=False, **options),
        SandboxedEnvironment(autoescape=True, **options),
    )


@cache
def _default(name: str) -> str:
    return (resources.files("notifier") / "templates" / name).read_text(encoding="utf-8")


@cache
def _compile(source: str, html: bool) -> Callable[..., str]:
    plain, escaping = _environments()
    template = (escaping if html else plain).from_string(source)
    return template.render  # type: ignore[no-any-return]


_DEFAULTS = {
    Kind.SLACK: ("slack_title.j2", "slack_body.j2", False),
    Kind.EMAIL: ("email_subject.j2", "email_body.html.j2", True),
    Kind.TEXT: ("text_title.j2", "text_body.j2", False),
}


def render_message(
    kind: Kind,
    events: Sequence[Event],
    rule: str,
    overrides: Overrides = Overrides(),
    limits: tuple[int, int] | None = None,
) -> Message:
    """The title and body of one message about `events` (one, or a group of several)."""
    if not events:
        raise ValueError("a message needs at least one event")
    if is_notice(events[0]):  # a digest or a trouble wrote its own words
        title_limit, body_limit = limits or LIMITS[kind]
        title = " ".join(notice_title(events[0]).split())
        return Message(
            truncate(title, title_limit), truncate(notice_text(events[0]).strip(), body_limit)
        )
    title_name, body_name, html = _DEFAULTS[kind]
    if overrides.body is not None:
        html = False  # a user's body is text; email then goes out as plain text
    shown = events[:SHOWN_IN_GROUP]
    context = {
        "event": _event_context(events[0]),
        "events": [_event_context(e) for e in events],
        "shown": [_event_context(e) for e in shown],
        "hidden": len(events) - len(shown),
        "count": len(events),
        "rule": rule,
        "summary": _summary(events),
        "emoji": emoji,
    }
    from jinja2 import TemplateError  # noqa: PLC0415 -- jinja2 is loaded lazily

    try:
        title = _compile(overrides.title or _default(title_name), False)(**context)
        body = _compile(overrides.body or _default(body_name), html)(**context)
    except TemplateError as exc:
        raise TemplateFailure(f"template error: {exc}") from None
    title_limit, body_limit = limits or LIMITS[kind]
    title = " ".join(title.split())  # one line, whatever the template did
    return Message(truncate(title, title_limit), truncate(body.strip(), body_limit), html)
