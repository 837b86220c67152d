"""The configuration (SPEC section 5) as pydantic models, one per section.

Where events go (channels, rules, mutes) is in `routing`; the shared pieces in `base`;
NOTIFIER_ environment overrides in `env`; reading the YAML file in `load`.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from notifier.config.base import (
    MAX_COUNT,
    ConfigModel,
    Duration,
    OptionalText,
    field_error,
    http_url,
    none_if_blank,
)
from notifier.config.env import ENV_PREFIX, EnvOverrides
from notifier.config.routing import ChannelConfig, MuteWindowConfig, RuleConfig, check_mutes
from notifier.config.watchdog import WatchdogConfig, check_watchdog
from notifier.core.durations import MAX_DURATION
from notifier.core.statuses import STATUSES, SourceType


class LlamaCloudConfig(ConfigModel):
    base_url: str = "https://api.cloud.llamaindex.ai"
    api_key: SecretStr
    project_id: OptionalText = None
    organization_id: OptionalText = None
    timeout: Duration = timedelta(seconds=30)
    max_requests_per_second: float = Field(10.0, gt=0, allow_inf_nan=False)
    max_retries: int = Field(5, ge=0, le=MAX_COUNT)
    # An answer past this many bytes (decompressed) fails its cycle instead of filling memory.
    max_page_bytes: int = Field(32 * 1024 * 1024, ge=64 * 1024, le=1024**3)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return http_url(value).rstrip("/")

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value


class StoreConfig(ConfigModel):
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


DEFAULT_SWEEP_EVERY = timedelta(hours=6)


class PollingConfig(ConfigModel):
    interval: Duration = timedelta(seconds=30)
    lookback: Duration = timedelta(days=3)
    overlap: Duration = timedelta(minutes=5)
    initial_sync: Literal["baseline", "notify"] = "baseline"
    stuck_after: Duration = timedelta(minutes=30)
    # The time one full sweep of the lookback window may take (the safety net beside the
    # cheap cycles). `reconcile_every` (cycles) is its old spelling, still read: N cycles
    # become N x interval.
    sweep_every: Duration | None = None
    # The interval while a scope has jobs running; `interval` is the idle one and the ceiling.
    active_interval: Duration | None = None
    reconcile_every: int | None = Field(None, ge=1, le=MAX_COUNT)
    # The most of llamacloud.max_requests_per_second that sweeps may use.
    sweep_share: float = Field(0.5, gt=0, le=1, allow_inf_nan=False)
    page_size: int = Field(100, ge=1, le=100)
    job_ids_batch: int = Field(100, ge=1, le=100)

    @model_validator(mode="after")
    def _sweep_period(self) -> PollingConfig:
        if self.active_interval is not None and self.active_interval > self.interval:
            raise field_error("active_interval", "must not be longer than polling.interval")
        if self.sweep_every is not None and self.reconcile_every is not None:
            raise field_error(
                "reconcile_every", "give sweep_every (reconcile_every is its old spelling)"
            )
        if self.sweep_every is None:
            period = (
                DEFAULT_SWEEP_EVERY
                if self.reconcile_every is None
                else min(self.interval * self.reconcile_every, MAX_DURATION)
            )
            object.__setattr__(self, "sweep_every", period)
        return self

    @property
    def sweep_period(self) -> timedelta:
        """`sweep_every`, always set once validated."""
        assert self.sweep_every is not None
        return self.sweep_every


class SourceConfig(ConfigModel):
    type: SourceType
    # Its jobs are created with a webhook configuration pointing at this daemon: a transition
    # polling finds without a native webhook counts as missing in the audit.
    native_webhooks: bool = False
    name: OptionalText = None
    project_ids: list[str] = []
    extraction_agent_ids: list[str] = []
    statuses: list[str] = []
    configuration_id: OptionalText = None
    stuck_after: Duration | None = None

    @model_validator(mode="after")
    def _fits_type(self) -> SourceConfig:
        v1 = self.type in (SourceType.EXTRACTION_V1, SourceType.EXTRACT_RUNS_V1)
        if v1 and not self.extraction_agent_ids:
            raise field_error("extraction_agent_ids", f"required for {self.type.value} sources")
        if not v1 and self.extraction_agent_ids:
            raise field_error("extraction_agent_ids", f"not used by {self.type.value} sources")
        if v1 and (self.statuses or self.project_ids):
            field = "statuses" if self.statuses else "project_ids"
            raise field_error(field, "v1 endpoints have no filters; drop this key")
        if self.configuration_id and self.type is not SourceType.EXTRACT_V2:
            raise field_error("configuration_id", "only extract_v2 filters by configuration")
        allowed = STATUSES[self.type]
        for index, status in enumerate(self.statuses):
            if status not in allowed:
                raise field_error(
                    f"statuses[{index}]",
                    f"unknown {self.type.value} status {status!r}; one of {', '.join(allowed)}",
                )
        return self


class NativeWebhooksConfig(ConfigModel):
    """LlamaCloud's own webhooks, taken as hints (off unless a secret or a token is set)."""

    path: str = "/hooks/llamacloud"
    secret: Annotated[SecretStr | None, BeforeValidator(none_if_blank)] = None
    token: Annotated[SecretStr | None, BeforeValidator(none_if_blank)] = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if (
            not re.fullmatch(r"/[A-Za-z0-9._~/-]*", value)
            or value.startswith(("/api/", "/-/", "/metrics", "/healthz", "/readyz"))
            or value == "/"
        ):
            raise ValueError("must be a path of its own such as /hooks/llamacloud")
        return value

    @property
    def enabled(self) -> bool:
        return self.secret is not None or self.token is not None


class DeliveryConfig(ConfigModel):
    max_attempts: int = Field(10, ge=1, le=MAX_COUNT)
    max_age: Duration = timedelta(days=1)
    backoff_base: Duration = timedelta(seconds=1)
    backoff_max: Duration = timedelta(minutes=5)
    concurrency: int = Field(8, ge=1, le=MAX_COUNT)
    shutdown_grace: Duration = timedelta(seconds=10)


class HttpConfig(ConfigModel):
    enabled: bool = True
    listen: str = "127.0.0.1:8080"
    token: Annotated[SecretStr | None, BeforeValidator(none_if_blank)] = None

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


class LogConfig(ConfigModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class Settings(BaseSettings):
    """The whole configuration. Environment overrides beat the file."""

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix=ENV_PREFIX, env_nested_delimiter="__"
    )

    llamacloud: LlamaCloudConfig
    store: StoreConfig = StoreConfig()
    polling: PollingConfig = PollingConfig()
    sources: list[SourceConfig] = Field(min_length=1)
    channels: dict[str, ChannelConfig] = {}
    rules: list[RuleConfig] = []
    delivery: DeliveryConfig = DeliveryConfig()
    http: HttpConfig = HttpConfig()
    native_webhooks: NativeWebhooksConfig = NativeWebhooksConfig()
    log: LogConfig = LogConfig()
    mutes: list[MuteWindowConfig] = []
    watchdog: WatchdogConfig = WatchdogConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (EnvOverrides(settings_cls), init_settings)

    @model_validator(mode="after")
    def _cross_references(self) -> Settings:
        for name in self.channels:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise field_error(f"channels.{name}", "names use letters, digits, _ . - only")
        seen_sources: set[str] = set()
        for index, source in enumerate(self.sources):
            name = source.name or source.type.value
            if name in seen_sources:
                raise field_error(f"sources[{index}].name", f"duplicate source name {name!r}")
            seen_sources.add(name)
        seen_rules: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.name in seen_rules:
                raise field_error(f"rules[{index}].name", f"duplicate rule name {rule.name!r}")
            seen_rules.add(rule.name)
            for position, channel in enumerate(rule.notify):
                if channel not in self.channels:
                    close = difflib.get_close_matches(channel, list(self.channels), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise field_error(
                        f"rules[{index}].notify[{position}]", f"unknown channel {channel!r}{hint}"
                    )
        check_mutes(self.mutes, seen_rules, set(self.channels))
        check_watchdog(self.watchdog, set(self.channels))
        return self
