"""`when.match`: a JMESPath expression over the event and the raw job, compiled and checked once.

JMESPath rather than CEL: the event is a JSON document and JMESPath is a query language made
for JSON, with one small, dependency-free, widely used library (the AWS CLI's `--query`,
Ansible's `json_query`); evaluation costs microseconds per event (docs/benchmarks.md, table
"Match"), and it has no way to call Python: no `eval`, no attribute access, no I/O.

`compile_match` finds what can be found before any event exists (syntax, unknown functions,
wrong argument counts, literal arguments of the wrong type), each with its position;
`Match.__call__` raises `MatchFailed` for an event it cannot evaluate, and the caller
treats that event as not matching.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath import exceptions as jp_errors
from jmespath import functions as jp_functions

from notifier.core.models import Event

MAX_EXPRESSION_CHARS = 4096
_FUNCTIONS: dict[str, Any] = dict(jp_functions.Functions().FUNCTION_TABLE)
_PY_TYPES = {name: set(types) for name, types in jp_functions.REVERSE_TYPES_MAP.items()}


class MatchSyntaxError(ValueError):
    """An expression that can never be evaluated; `position` is 0-based in its text."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position

    def __str__(self) -> str:
        return f"at character {self.position + 1}: {self.args[0]}"


class MatchFailed(Exception):
    """This event could not be evaluated (a function given null, say): it does not match."""


def match_document(event: Event) -> dict[str, Any]:
    """What an expression sees: the payload's `data` fields (the raw job as `job`, not copied),
    with `type`, `id`, `name`, `configuration_id` and `extraction_agent_id` beside them."""
    return {
        "type": event.type,
        "id": event.id,
        "source": event.source,
        "job_id": event.job_id,
        "project_id": event.project_id,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "phase": event.phase,
        "llamacloud_event": event.llamacloud_event,
        "error_message": event.error_message,
        "job_created_at": event.job_created_at,
        "job_updated_at": event.job_updated_at,
        "detected_at": event.detected_at,
        "detected_by": event.detected_by,
        "name": event.name,
        "configuration_id": event.configuration_id,
        "extraction_agent_id": event.extraction_agent_id,
        "job": event.job,
    }


def truthy(value: object) -> bool:
    """JMESPath's truth: false, null, "", [] and {} are false; every number is true (0 too)."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


@dataclass(frozen=True, slots=True)
class Match:
    """A compiled expression; calling it on an event's document says whether it matches."""

    source: str
    _parsed: Any = field(repr=False, compare=False)

    def __call__(self, document: Mapping[str, Any]) -> bool:
        try:
            return truthy(self._parsed.search(document))
        except Exception as exc:  # any failure of one event's data is that event's alone
            raise MatchFailed(f"{type(exc).__name__}: {exc}") from None


def compile_match(source: str) -> Match:
    """Parse and check an expression, or raise MatchSyntaxError naming where it fails."""
    if not source.strip():
        raise MatchSyntaxError("empty expression", 0)
    if len(source) > MAX_EXPRESSION_CHARS:
        raise MatchSyntaxError(f"longer than {MAX_EXPRESSION_CHARS} characters", 0)
    try:
        parsed = jmespath.compile(source)
    except jp_errors.LexerError as exc:
        raise MatchSyntaxError(_first_line(exc.message), _position(exc, source)) from None
    except jp_errors.IncompleteExpressionError as exc:
        raise MatchSyntaxError("incomplete expression", _position(exc, source)) from None
    except jp_errors.ParseError as exc:
        raise MatchSyntaxError(f"unexpected {exc.token_value!r}", _position(exc, source)) from None
    except RecursionError:
        raise MatchSyntaxError("nested too deeply", 0) from None
    _check_functions(parsed.parsed, source)
    return Match(source, parsed)


def _first_line(text: object) -> str:
    return str(text).splitlines()[0].rstrip(":") if text else "invalid expression"


def _position(exc: jp_errors.ParseError | jp_errors.LexerError, source: str) -> int:
    position = getattr(exc, "lex_position", None)
    return min(max(int(position), 0), len(source)) if isinstance(position, int) else 0


def _nodes(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(c for c in current.get("children", ()) if isinstance(c, Mapping))


def _check_functions(tree: Mapping[str, Any], source: str) -> None:
    """Unknown names, argument counts and literal argument types: errors on every event."""
    calls = [n for n in _nodes(tree) if n.get("type") == "function_expression"]
    for node in calls:
        name = str(node["value"])
        where = _call_position(source, name)
        spec = _FUNCTIONS.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, _FUNCTIONS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise MatchSyntaxError(f"unknown function {name}(){hint}", where)
        signature = spec["signature"]
        arguments = node["children"]
        variadic = bool(signature) and bool(signature[-1].get("variadic"))
        wanted = len(signature)
        if (variadic and len(arguments) < wanted) or (not variadic and len(arguments) != wanted):
            count = f"at least {wanted}" if variadic else str(wanted)
            plural = "" if wanted == 1 else "s"
            raise MatchSyntaxError(
                f"{name}() takes {count} argument{plural}, {len(arguments)} given", where
            )
        for index, (argument, expected) in enumerate(zip(arguments, signature, strict=False)):
            if argument.get("type") != "literal":
                continue
            allowed = expected["types"]
            actual = type(argument["value"]).__name__
            if allowed and not any(actual in _PY_TYPES.get(t, ()) for t in allowed):
                raise MatchSyntaxError(
                    f"{name}() argument {index + 1} must be {' or '.join(allowed)}, "
                    f"not {_json_type(argument['value'])}",
                    where,
                )


def _call_position(source: str, name: str) -> int:
    found = re.search(rf"\b{re.escape(name)}\s*\(", source)
    return found.start() if found else 0


def _json_type(value: object) -> str:
    for name, types in _PY_TYPES.items():
        if type(value).__name__ in types:
            return name
    return type(value).__name__
