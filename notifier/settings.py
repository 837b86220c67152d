"""The configuration (SPEC section 5) as pydantic-settings models; NOTIFIER_ overrides.

Loading the YAML file, `${VAR}` interpolation and error messages live in `configfile`.
Where events go (channels, rules, mutes) lives in `settings_routing`; shared pieces in
`settings_base`. The names are re-exported here.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from notifier.core.statuses import STATUSES, SourceType
from notifier.durations import format_duration, parse_duration
from notifier.settings_base import (
    MAX_COUNT,
    ConfigError,
    Duration,
    OptionalText,
    _field_error,
    _http_url,
    _Model,
    _none_if_blank,
)
from notifier.settings_routing import (
    GROUP_FIELDS,
    AppriseChannel,
    Channel,
    MuteWindow,
    Rule,
    WebhookChannel,
    When,
    _check_mutes,
)

__all__ = [
    "GROUP_FIELDS",
    "AppriseChannel",
    "Channel",
    "ConfigError",
    "DeliverySettings",
    "HttpSettings",
    "LlamaCloudSettings",
    "LogSettings",
    "MuteWindow",
    "PollingSettings",
    "Rule",
    "Settings",
    "SourceSettings",
    "StoreSettings",
    "WebhookChannel",
    "When",
    "format_duration",
    "parse_duration",
]

ENV_PREFIX = "NOTIFIER_"


class LlamaCloudSettings(_Model):
    base_url: str = "https://api.cloud.llamaindex.ai"
    api_key: SecretStr
    project_id: OptionalText = None
    organization_id: OptionalText = None
    timeout: Duration = timedelta(seconds=30)
    max_requests_per_second: float = Field(10.0, gt=0, allow_inf_nan=False)
    max_retries: int = Field(5, ge=0, le=MAX_COUNT)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/")

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value


class StoreSettings(_Model):
    path: Path = Path("./data/notifier.db")
    retention: Duration = timedelta(days=30)

    @field_validator("path", mode="before")
    @classmethod
    def _path(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        if isinstance(value, str) and "\0" in value:
            raise ValueError("must not contain a NUL character")
        return value


class PollingSettings(_Model):
    interval: Duration = timedelta(seconds=30)
    lookback: Duration = timedelta(days=3)
    overlap: Duration = timedelta(minutes=5)
    initial_sync: Literal["baseline", "notify"] = "baseline"
    stuck_after: Duration = timedelta(minutes=30)
    reconcile_every: int = Field(20, ge=1, le=MAX_COUNT)
    page_size: int = Field(100, ge=1, le=100)
    job_ids_batch: int = Field(100, ge=1, le=100)


class SourceSettings(_Model):
    type: SourceType
    name: OptionalText = None
    project_ids: list[str] = []
    extraction_agent_ids: list[str] = []
    statuses: list[str] = []
    configuration_id: OptionalText = None
    stuck_after: Duration | None = None

    @model_validator(mode="after")
    def _fits_type(self) -> SourceSettings:
        v1 = self.type in (SourceType.EXTRACTION_V1, SourceType.EXTRACT_RUNS_V1)
        if v1 and not self.extraction_agent_ids:
            raise _field_error("extraction_agent_ids", f"required for {self.type.value} sources")
        if not v1 and self.extraction_agent_ids:
            raise _field_error("extraction_agent_ids", f"not used by {self.type.value} sources")
        if v1 and (self.statuses or self.project_ids):
            field = "statuses" if self.statuses else "project_ids"
            raise _field_error(field, "v1 endpoints have no filters; drop this key")
        if self.configuration_id and self.type is not SourceType.EXTRACT_V2:
            raise _field_error("configuration_id", "only extract_v2 filters by configuration")
        allowed = STATUSES[self.type]
        for index, status in enumerate(self.statuses):
            if status not in allowed:
                raise _field_error(
                    f"statuses[{index}]",
                    f"unknown {self.type.value} status {status!r}; one of {', '.join(allowed)}",
                )
        return self


class DeliverySettings(_Model):
    max_attempts: int = Field(10, ge=1, le=MAX_COUNT)
    max_age: Duration = timedelta(days=1)
    backoff_base: Duration = timedelta(seconds=1)
    backoff_max: Duration = timedelta(minutes=5)
    concurrency: int = Field(8, ge=1, le=MAX_COUNT)
    shutdown_grace: Duration = timedelta(seconds=10)


class HttpSettings(_Model):
    enabled: bool = True
    listen: str = "127.0.0.1:8080"
    token: Annotated[SecretStr | None, BeforeValidator(_none_if_blank)] = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not re.fullmatch(r"[0-9]{1,5}", port) or int(port) > 65535:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8080")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class LogSettings(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


_ENVIRON: ContextVar[Mapping[str, str]] = ContextVar("notifier_environ")


class _BadJson(ValueError):
    """A NOTIFIER_ variable that must hold JSON does not; keeps the text to find its name."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(reason)
        self.text = text


class _EnvOverrides(EnvSettingsSource):
    """NOTIFIER_SECTION__KEY variables, read from the mapping `load_settings` was given."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get(os.environ)
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
            environ = _ENVIRON.get(os.environ)
            names = [
                name
                for name, text in environ.items()
                if text == exc.text and name.upper().startswith(ENV_PREFIX)
            ]
            name = names[0] if names else f"{ENV_PREFIX}{field_name.upper()}"
            raise ConfigError(f"{name}: {exc}") from None


class Settings(BaseSettings):
    """The whole configuration. Environment overrides beat the file."""

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix=ENV_PREFIX, env_nested_delimiter="__"
    )

    llamacloud: LlamaCloudSettings
    store: StoreSettings = StoreSettings()
    polling: PollingSettings = PollingSettings()
    sources: list[SourceSettings] = Field(min_length=1)
    channels: dict[str, Channel] = {}
    rules: list[Rule] = []
    delivery: DeliverySettings = DeliverySettings()
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()
    mutes: list[MuteWindow] = []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (_EnvOverrides(settings_cls), init_settings)

    @model_validator(mode="after")
    def _cross_references(self) -> Settings:
        for name in self.channels:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise _field_error(f"channels.{name}", "names use letters, digits, _ . - only")
        seen_sources: set[str] = set()
        for index, source in enumerate(self.sources):
            name = source.name or source.type.value
            if name in seen_sources:
                raise _field_error(f"sources[{index}].name", f"duplicate source name {name!r}")
            seen_sources.add(name)
        seen_rules: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.name in seen_rules:
                raise _field_error(f"rules[{index}].name", f"duplicate rule name {rule.name!r}")
            seen_rules.add(rule.name)
            for position, channel in enumerate(rule.notify):
                if channel not in self.channels:
                    close = difflib.get_close_matches(channel, list(self.channels), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise _field_error(
                        f"rules[{index}].notify[{position}]", f"unknown channel {channel!r}{hint}"
                    )
        _check_mutes(self.mutes, seen_rules, set(self.channels))
        return self
