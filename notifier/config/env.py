"""NOTIFIER_SECTION__KEY environment overrides, read from the mapping the loader was given.

pydantic-settings reads `os.environ`; `load_settings(env=...)` must be able to pass another
mapping (tests, the demo), so the source reads a context variable instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from notifier.config.base import ConfigError

ENV_PREFIX = "NOTIFIER_"
ENVIRON: ContextVar[Mapping[str, str]] = ContextVar("notifier_environ")


class _BadJson(ValueError):
    """A NOTIFIER_ variable that must hold JSON does not; keeps the text to find its name."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(reason)
        self.text = text


class EnvOverrides(EnvSettingsSource):
    """NOTIFIER_SECTION__KEY variables, read from the mapping `load_settings` was given."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = ENVIRON.get(os.environ)
        return parse_env_vars(
            environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            raise _BadJson(value, "not valid JSON") from None
        except RecursionError:
            raise _BadJson(value, "JSON nested too deeply") from None

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        """As pydantic-settings does, but JSON it cannot decode is a ConfigError naming the
        variable (pydantic-settings raises SettingsError); the value is never shown."""
        try:
            return super().prepare_field_value(field_name, field, value, value_is_complex)
        except _BadJson as exc:
            environ = ENVIRON.get(os.environ)
            names = [
                name
                for name, text in environ.items()
                if text == exc.text and name.upper().startswith(ENV_PREFIX)
            ]
            name = names[0] if names else f"{ENV_PREFIX}{field_name.upper()}"
            raise ConfigError(f"{name}: {exc}") from None
