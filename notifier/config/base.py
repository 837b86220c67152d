"""Shared pieces of the settings models: the error type, durations, and the strict base model."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

from notifier.core.durations import parse_duration


class ConfigError(Exception):
    """Invalid configuration; `str()` is one `path: message` line per problem."""


# The most any count (attempts, retries, cycles) may be: beyond it a number is a typo, and
# SQLite and str() have limits of their own.
MAX_COUNT = 1_000_000


# A duration as written in the file (`500ms`, `30s`, `15m`, `1h30m`, `3d`, `2w`, any case) or a
# number of seconds: what editors validate and complete (`notifier schema`).
DURATION_SCHEMA = {
    "anyOf": [
        {
            "type": "string",
            "pattern": r"^ *([0-9]+(\.[0-9]+)? *([mM][sS]|[smhdwSMHDW]) *)+$",
            "examples": ["30s", "15m", "2h", "3d", "1h30m", "500ms"],
        },
        {"type": "number", "exclusiveMinimum": 0, "description": "seconds"},
    ],
    "description": "A positive duration such as 30s, 15m, 2h, 3d (at most 3650d)",
}
Duration = Annotated[timedelta, BeforeValidator(parse_duration), WithJsonSchema(DURATION_SCHEMA)]


def none_if_blank(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


OptionalText = Annotated[str | None, BeforeValidator(none_if_blank)]
StrList = Annotated[list[str] | None, BeforeValidator(_as_list)]


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    try:
        parts.port  # noqa: B018 -- raises ValueError for `:99999` or `:abc`
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


class FieldError(ValueError):
    """A validation failure that knows the path below the model that raised it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def field_error(path: str, message: str) -> FieldError:
    return FieldError(path, message)
