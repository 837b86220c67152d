"""Route events to channels through `when` matchers; first matching rule names the route."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from notifier.core.match import MatchFailed, match_document
from notifier.core.models import Event, Route

# `when.match` compiled (core.match.Match): the event's document in, whether it matches out;
# raises MatchFailed for an event it cannot evaluate.
Predicate = Callable[[Mapping[str, Any]], bool]


class _Document:
    """The event's document for `match`, built once per event however many rules ask."""

    __slots__ = ("_event", "_value")

    def __init__(self, event: Event) -> None:
        self._event = event
        self._value: Mapping[str, Any] | None = None

    def get(self) -> Mapping[str, Any]:
        if self._value is None:
            self._value = match_document(self._event)
        return self._value


@dataclass(frozen=True, slots=True)
class MatchFailure:
    """A rule whose `match` raised for one event: logged by the caller, the rule skipped."""

    rule: str
    event_id: str
    job_id: str
    error: str


@dataclass(frozen=True, slots=True)
class When:
    """A matcher: keys are ANDed, the values of one key ORed; None means "any"."""

    event: frozenset[str] | None = None
    source: frozenset[str] | None = None
    status: frozenset[str] | None = None
    from_status: frozenset[str] | None = None
    phase: frozenset[str] | None = None
    project_id: frozenset[str] | None = None
    configuration_id: frozenset[str] | None = None
    extraction_agent_id: frozenset[str] | None = None
    name: tuple[str, ...] | None = None
    error_message: tuple[re.Pattern[str], ...] | None = None
    negated: When | None = None
    match: Predicate | None = None

    def matches(self, event: Event, document: _Document | None = None) -> bool:
        """Whether every key given holds for the event (and the `not` part does not).

        Raises MatchFailed when `match` cannot evaluate this event."""
        exact = (
            (self.event, event.type),
            (self.source, event.source),
            (self.status, event.to_status),
            (self.from_status, event.from_status),
            (self.phase, event.phase),
            (self.project_id, event.project_id),
            (self.configuration_id, event.configuration_id),
            (self.extraction_agent_id, event.extraction_agent_id),
        )
        for allowed, value in exact:
            if allowed is not None and value not in allowed:
                return False
        if self.name is not None and not (
            event.name is not None and any(fnmatchcase(event.name, g) for g in self.name)
        ):
            return False
        if self.error_message is not None and not (
            event.error_message is not None
            and any(p.search(event.error_message) for p in self.error_message)
        ):
            return False
        if self.match is not None and not self.match((document or _Document(event)).get()):
            return False
        return self.negated is None or not self.negated.matches(event, document)


@dataclass(frozen=True, slots=True)
class Rule:
    """A named matcher and the channels it notifies; `stop` ends matching after a hit."""

    name: str
    when: When
    channels: tuple[str, ...]
    stop: bool = False
    group_by: tuple[str, ...] = ()
    group_wait: float | None = None
    group_interval: float = 300.0
    repeat_interval: float | None = None

    def group_key(self, event: Event) -> str | None:
        """`rule|field=value|...` for grouped rules; None sends each event on its own."""
        if self.group_wait is None:
            return None
        values = {"event": event.type, "status": event.to_status, "job_id": event.job_id}
        parts = [self.name]
        for field in self.group_by:
            value = values[field] if field in values else getattr(event, field, None)
            parts.append(f"{field}={value}")
        return "|".join(parts)


def as_set(values: Iterable[str] | None) -> frozenset[str] | None:
    """None stays "any"; a list becomes the set of accepted values."""
    return None if values is None else frozenset(values)


def route(
    event: Event, rules: Sequence[Rule], failures: list[MatchFailure] | None = None
) -> list[Route]:
    """One route per channel, named after the first rule that sent the event there.

    A rule whose `match` fails for this event does not match it; the failure is appended to
    `failures` for the caller to log, and matching goes on with the next rule."""
    routes: dict[str, Route] = {}
    document = _Document(event)
    for rule in rules:
        try:
            matched = rule.when.matches(event, document)
        except MatchFailed as exc:
            if failures is not None:
                failures.append(MatchFailure(rule.name, event.id, event.job_id, str(exc)))
            continue
        if not matched:
            continue
        for channel in rule.channels:
            if channel in routes:
                continue
            key = rule.group_key(event)
            routes[channel] = Route(
                rule=rule.name,
                channel=channel,
                group_key=key,
                group_wait=rule.group_wait or 0.0 if key else 0.0,
                group_interval=rule.group_interval if key else 0.0,
                repeat_interval=rule.repeat_interval,
            )
        if rule.stop:
            break
    return list(routes.values())
