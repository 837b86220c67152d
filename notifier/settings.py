"""The configuration (SPEC section 5): pydantic-settings models, YAML, ${VAR}, NOTIFIER_ overrides.

Library code raises `ConfigError` whose lines read `path: message`; the CLI prints them and
exits 2. No message ever contains a value that was given, so no secret can leak through one.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from notifier.core.diff import EVENT_TYPES
from notifier.core.statuses import STATUSES, Phase, SourceType
from notifier.durations import format_duration, parse_duration

__all__ = ["ConfigError", "Settings", "format_duration", "load_settings", "parse_duration"]

DEFAULT_PATH = Path("config/notifier.yaml")
ENV_PREFIX = "NOTIFIER_"


class ConfigError(Exception):
    """Invalid configuration; `str()` is one `path: message` line per problem."""


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _none_if_blank(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


OptionalText = Annotated[str | None, BeforeValidator(_none_if_blank)]
StrList = Annotated[list[str] | None, BeforeValidator(_as_list)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value


class LlamaCloudSettings(_Model):
    base_url: str = "https://api.cloud.llamaindex.ai"
    api_key: SecretStr
    project_id: OptionalText = None
    organization_id: OptionalText = None
    timeout: Duration = timedelta(seconds=30)
    max_requests_per_second: float = Field(10.0, gt=0)
    max_retries: int = Field(5, ge=0)

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


class PollingSettings(_Model):
    interval: Duration = timedelta(seconds=30)
    lookback: Duration = timedelta(days=3)
    overlap: Duration = timedelta(minutes=5)
    initial_sync: Literal["baseline", "notify"] = "baseline"
    stuck_after: Duration = timedelta(minutes=30)
    reconcile_every: int = Field(20, ge=1)
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


class _Templated(_Model):
    """Message templates (Jinja2, sandboxed), inline or read from a file at load time."""

    title: str | None = None
    body: str | None = None
    title_file: Path | None = None
    body_file: Path | None = None

    @model_validator(mode="after")
    def _templates(self) -> _Templated:
        for key in ("title", "body"):
            path: Path | None = getattr(self, f"{key}_file")
            if path is not None:
                if getattr(self, key) is not None:
                    raise _field_error(f"{key}_file", f"give {key} or {key}_file, not both")
                try:
                    object.__setattr__(self, key, path.read_text(encoding="utf-8"))
                except OSError as exc:
                    raise _field_error(
                        f"{key}_file", f"cannot read {path}: {exc.strerror}"
                    ) from None
            source = getattr(self, key)
            if source is not None:
                _check_template(source, key)
        return self


def _check_template(source: str, key: str) -> None:
    from jinja2 import TemplateSyntaxError  # noqa: PLC0415 -- only when templates are given
    from jinja2.sandbox import SandboxedEnvironment  # noqa: PLC0415

    try:
        SandboxedEnvironment().parse(source)
    except TemplateSyntaxError as exc:
        raise _field_error(key, f"template error at line {exc.lineno}: {exc.message}") from None


class WebhookChannel(_Model):
    type: Literal["webhook"]
    url: str
    secret: Annotated[SecretStr | None, BeforeValidator(_none_if_blank)] = None
    headers: dict[str, str] = {}
    timeout: Duration = timedelta(seconds=10)
    max_attempts: int | None = Field(None, ge=1)
    max_age: Duration | None = None
    rate_per_second: float | None = Field(None, gt=0)
    batch: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value().removeprefix("whsec_")
        if not re.fullmatch(r"[A-Za-z0-9+/=_-]+", text):
            raise ValueError("must be base64, optionally prefixed whsec_")
        try:
            key = base64.b64decode(text + "==", validate=False)
        except (binascii.Error, ValueError):
            key = b""
        if not key:
            raise ValueError("must be base64, optionally prefixed whsec_")
        return value


class AppriseChannel(_Templated):
    type: Literal["apprise"]
    urls: list[SecretStr] = Field(min_length=1)
    timeout: Duration = timedelta(seconds=30)
    max_attempts: int | None = Field(None, ge=1)
    max_age: Duration | None = None
    rate_per_second: float | None = Field(None, gt=0)

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        for url in value:
            if "://" not in url.get_secret_value():
                raise ValueError(
                    "each url must be an apprise URL such as slack://... or mailto://..."
                )
        return value


Channel = Annotated[WebhookChannel | AppriseChannel, Field(discriminator="type")]


class When(_Model):
    """A rule's matcher: keys ANDed, values of one key ORed; a scalar counts as a list of one."""

    event: StrList = None
    source: StrList = None
    status: StrList = None
    from_status: StrList = None
    phase: StrList = None
    project_id: StrList = None
    configuration_id: StrList = None
    extraction_agent_id: StrList = None
    name: StrList = None
    error_message: StrList = None
    not_: When | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _known_values(self) -> When:
        for key, allowed in (
            ("event", EVENT_TYPES),
            ("source", tuple(s.value for s in SourceType)),
            ("phase", tuple(p.value for p in Phase)),
        ):
            for index, value in enumerate(getattr(self, key) or ()):
                if value not in allowed:
                    raise _field_error(
                        f"{key}[{index}]", f"unknown {key} {value!r}; one of {', '.join(allowed)}"
                    )
        for index, pattern in enumerate(self.error_message or ()):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise _field_error(f"error_message[{index}]", f"invalid regex: {exc}") from None
        return self


GROUP_FIELDS = (
    "source",
    "status",
    "from_status",
    "phase",
    "project_id",
    "event",
    "configuration_id",
    "extraction_agent_id",
    "job_id",
)


class Rule(_Templated):
    name: str = Field(min_length=1)
    when: When = When()
    notify: list[str] = Field(min_length=1)
    continue_: bool = Field(True, alias="continue")
    group_by: list[str] = []
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None

    @field_validator("group_by")
    @classmethod
    def _group_fields(cls, value: list[str]) -> list[str]:
        for field in value:
            if field not in GROUP_FIELDS:
                raise ValueError(f"cannot group by {field!r}; one of {', '.join(GROUP_FIELDS)}")
        return value


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MuteWindow(_Model):
    """A recurring quiet time: deliveries of these rules or channels are recorded as muted."""

    name: str = Field(min_length=1)
    rules: list[str] = []
    channels: list[str] = []
    days: list[str] = list(_DAYS)
    start: str = "00:00"
    end: str = "24:00"
    timezone: str = "UTC"

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        days = [d.lower()[:3] for d in value]
        for day in days:
            if day not in _DAYS:
                raise ValueError(f"unknown day {day!r}; use mon, tue, ... sun")
        return days

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        hours, sep, minutes = value.partition(":")
        ok = sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2
        if (
            not ok
            or not (0 <= int(hours) <= 24 and 0 <= int(minutes) < 60)
            or (int(hours) == 24 and int(minutes) != 0)
        ):
            raise ValueError("use HH:MM, 00:00 to 24:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}, e.g. Europe/Berlin") from None
        return value

    @model_validator(mode="after")
    def _targets(self) -> MuteWindow:
        if not self.rules and not self.channels:
            raise _field_error("rules", "name at least one rule or channel to mute")
        return self


class DeliverySettings(_Model):
    max_attempts: int = Field(10, ge=1)
    max_age: Duration = timedelta(days=1)
    backoff_base: Duration = timedelta(seconds=1)
    backoff_max: Duration = timedelta(minutes=5)
    concurrency: int = Field(8, ge=1)
    shutdown_grace: Duration = timedelta(seconds=10)


class HttpSettings(_Model):
    enabled: bool = True
    listen: str = "127.0.0.1:8080"
    token: Annotated[SecretStr | None, BeforeValidator(_none_if_blank)] = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
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


class _EnvOverrides(EnvSettingsSource):
    """NOTIFIER_SECTION__KEY variables, read from the mapping `load_settings` was given."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get(os.environ)
        return parse_env_vars(
            environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


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


def _check_mutes(mutes: list[MuteWindow], rules: set[str], channels: set[str]) -> None:
    """Every muted rule and channel exists."""
    for index, mute in enumerate(mutes):
        for position, rule_name in enumerate(mute.rules):
            if rule_name not in rules:
                raise _field_error(
                    f"mutes[{index}].rules[{position}]", f"unknown rule {rule_name!r}"
                )
        for position, channel in enumerate(mute.channels):
            if channel not in channels:
                raise _field_error(
                    f"mutes[{index}].channels[{position}]", f"unknown channel {channel!r}"
                )


class _FieldError(ValueError):
    """A validation failure that knows the path below the model that raised it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _field_error(path: str, message: str) -> _FieldError:
    return _FieldError(path, message)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: Any, environ: Mapping[str, str], path: str = "") -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string value; `$${` keeps a literal."""
    if isinstance(value, dict):
        return {k: interpolate(v, environ, _join(path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, environ, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{path or '(root)'}: environment variable {name} is not set")

    parts = value.split("$${")
    return "${".join(_VAR.sub(replace, part) for part in parts)


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _error_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("webhook", "apprise", "function-after[_fits_type()]") or part.startswith(
            ("function-", "tagged-union")
        ):
            continue
        else:
            out = _join(out, part)
    return out


def _messages(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        path = _error_path(item["loc"])
        context = item.get("ctx") or {}
        cause = context.get("error")
        if isinstance(cause, _FieldError):
            path, message = _join(path, cause.path), str(cause)
        elif isinstance(cause, ValueError):
            message = str(cause)
        else:
            message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{path or '(root)'}: {message}")
    return lines


def config_path(path: Path | None, environ: Mapping[str, str]) -> Path:
    """--config, else $NOTIFIER_CONFIG, else config/notifier.yaml."""
    if path is not None:
        return path
    return Path(environ["NOTIFIER_CONFIG"]) if environ.get("NOTIFIER_CONFIG") else DEFAULT_PATH


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, interpolate and validate the configuration, or raise ConfigError."""
    environ = os.environ if env is None else env
    file = config_path(path, environ)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{file}: {problem}{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of sections")
    data = interpolate(data, environ)
    token = _ENVIRON.set(environ)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_messages(exc))) from None
    finally:
        _ENVIRON.reset(token)


def secret_values(settings: Settings) -> list[str]:
    """Every string that must never be logged: keys, secrets, apprise URLs and their parts."""
    values = [settings.llamacloud.api_key.get_secret_value()]
    if settings.http.token is not None:
        values.append(settings.http.token.get_secret_value())
    for channel in settings.channels.values():
        if isinstance(channel, WebhookChannel):
            if channel.secret is not None:
                secret = channel.secret.get_secret_value()
                values += [secret, secret.removeprefix("whsec_")]
            values += _url_secrets(channel.url, whole=False)
        else:
            for url in channel.urls:
                values += _url_secrets(url.get_secret_value(), whole=True)
    return [v for v in dict.fromkeys(values) if len(v) >= 4]


def _url_secrets(url: str, *, whole: bool) -> list[str]:
    """Credentials inside a URL: userinfo, and for apprise URLs the path tokens and query values."""
    parts = urlsplit(url)
    found = [url] if whole else []
    found += [p for p in (parts.password,) if p]
    if parts.username and len(parts.username) >= 6:  # short names are words, not secrets
        found.append(parts.username)
    found += [
        v for k, v in parse_qsl(parts.query) if k.lower() not in ("to", "from", "format", "mode")
    ]
    if whole:
        host = parts.netloc.rpartition("@")[2].split(":")[0]  # as written: tokens keep case
        if parts.scheme not in ("http", "https", "mailto", "mailtos"):
            found.append(host)  # slack://TokenA/... keeps a token where the host would be
        # Path tokens, but not plain words such as `services` that would blank every log line.
        found += [
            seg
            for seg in parts.path.split("/")
            if seg and not seg.startswith("#") and not re.fullmatch(r"[a-z]+", seg)
        ]
    return found
