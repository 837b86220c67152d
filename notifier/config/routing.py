"""Settings of where events go: channels, rules with their `when`, grouping, templates, mutes."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from notifier.config.base import (
    MAX_COUNT,
    ConfigModel,
    Duration,
    StrList,
    field_error,
    http_url,
    none_if_blank,
)
from notifier.config.digest import DigestConfig
from notifier.core.diff import EVENT_TYPES
from notifier.core.match import MatchSyntaxError, compile_match
from notifier.core.statuses import Phase, SourceType


class TemplatedConfig(ConfigModel):
    """Message templates (Jinja2, sandboxed), inline or read from a file at load time."""

    title: str | None = None
    body: str | None = None
    title_file: Path | None = None
    body_file: Path | None = None

    @model_validator(mode="after")
    def _templates(self) -> TemplatedConfig:
        for key in ("title", "body"):
            path: Path | None = getattr(self, f"{key}_file")
            if path is not None:
                if getattr(self, key) is not None:
                    raise field_error(f"{key}_file", f"give {key} or {key}_file, not both")
                object.__setattr__(self, key, _read_template(path, f"{key}_file"))
            source = getattr(self, key)
            if source is not None:
                _check_template(source, key)
        return self


_MAX_TEMPLATE_BYTES = 1 << 20


def _read_template(path: Path, key: str) -> str:
    """A template file's text: UTF-8, at most 1 MiB (so /dev/zero cannot eat the memory)."""
    if "\0" in str(path):
        raise field_error(key, "must not contain a NUL character")
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise field_error(key, f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > _MAX_TEMPLATE_BYTES:
        raise field_error(key, f"{path} is larger than 1 MiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise field_error(key, f"{path} is not UTF-8 text") from None


def _check_template(source: str, key: str) -> None:
    from jinja2 import TemplateSyntaxError  # noqa: PLC0415 -- only when templates are given
    from jinja2.sandbox import SandboxedEnvironment  # noqa: PLC0415 -- as above

    try:
        SandboxedEnvironment().parse(source)
    except TemplateSyntaxError as exc:
        raise field_error(key, f"template error at line {exc.lineno}: {exc.message}") from None
    except RecursionError:
        raise field_error(key, "template error: nested too deeply") from None


def _signing_secret(value: SecretStr) -> SecretStr:
    """Base64 after an optional `whsec_`, as Standard Webhooks secrets are (never echoed)."""
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


class WebhookChannelConfig(ConfigModel):
    type: Literal["webhook"]
    url: str
    secret: Annotated[SecretStr | None, BeforeValidator(none_if_blank)] = None
    # Key rotation: newest first; each request carries one `v1,` signature per secret.
    secrets: list[Annotated[SecretStr, AfterValidator(_signing_secret)]] | None = None
    headers: dict[str, str] = {}
    timeout: Duration = timedelta(seconds=10)
    max_attempts: int | None = Field(None, ge=1, le=MAX_COUNT)
    max_age: Duration | None = None
    rate_per_second: float | None = Field(None, gt=0, allow_inf_nan=False)
    batch: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        """Names are HTTP tokens, values one line: else every delivery would fail."""
        for name, text in value.items():
            if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            if any(c in text for c in "\r\n\0"):
                raise field_error(name, "header value must be one line")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else _signing_secret(value)

    @field_validator("secrets", mode="before")
    @classmethod
    def _blank_secrets(cls, value: object) -> object:
        """`${OLD_SECRET:-}` left empty drops out: a rotation that is over lists one secret."""
        if isinstance(value, list):
            return [item for item in value if none_if_blank(item) is not None]
        return value

    @field_validator("secrets")
    @classmethod
    def _secret_list(cls, value: list[SecretStr] | None) -> list[SecretStr] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("list at least one secret (newest first), or leave secrets out")
        if len(value) > 8:
            raise ValueError("at most 8 secrets: a rotation needs the new one and the old")
        return value

    @model_validator(mode="after")
    def _one_way_to_sign(self) -> WebhookChannelConfig:
        if self.secret is not None and self.secrets is not None:
            raise field_error("secrets", "give secret or secrets, not both")
        return self

    def signing_secrets(self) -> list[str]:
        """The secrets requests are signed with, newest first (none: unsigned)."""
        given = self.secrets if self.secrets is not None else [self.secret] if self.secret else []
        return [secret.get_secret_value() for secret in given]


class AppriseChannelConfig(TemplatedConfig):
    type: Literal["apprise"]
    urls: list[SecretStr] = Field(min_length=1)
    timeout: Duration = timedelta(seconds=30)
    max_attempts: int | None = Field(None, ge=1, le=MAX_COUNT)
    max_age: Duration | None = None
    rate_per_second: float | None = Field(None, gt=0, allow_inf_nan=False)

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[SecretStr]) -> list[SecretStr]:
        for url in value:
            if "://" not in url.get_secret_value():
                raise ValueError(
                    "each url must be an apprise URL such as slack://... or mailto://..."
                )
        return value


ChannelConfig = Annotated[WebhookChannelConfig | AppriseChannelConfig, Field(discriminator="type")]


class WhenConfig(ConfigModel):
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
    # A JMESPath expression over the event and its raw job (core.match): README, "when.match".
    match: str | None = None
    not_: WhenConfig | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _known_values(self) -> WhenConfig:
        for key, allowed in (
            ("event", EVENT_TYPES),
            ("source", tuple(s.value for s in SourceType)),
            ("phase", tuple(p.value for p in Phase)),
        ):
            for index, value in enumerate(getattr(self, key) or ()):
                if value not in allowed:
                    raise field_error(
                        f"{key}[{index}]", f"unknown {key} {value!r}; one of {', '.join(allowed)}"
                    )
        for index, pattern in enumerate(self.error_message or ()):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise field_error(f"error_message[{index}]", f"invalid regex: {exc}") from None
            except (RecursionError, OverflowError):  # deep nesting, a{99999999999}
                raise field_error(f"error_message[{index}]", "invalid regex: too complex") from None
        if self.match is not None:
            try:
                compile_match(self.match)
            except MatchSyntaxError as exc:
                raise field_error("match", str(exc)) from None
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


class RuleConfig(TemplatedConfig):
    name: str = Field(min_length=1)
    when: WhenConfig = WhenConfig()
    notify: list[str] = Field(min_length=1)
    continue_: bool = Field(True, alias="continue")
    group_by: list[str] = []
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    digest: DigestConfig | None = None

    @model_validator(mode="after")
    def _digest_alone(self) -> RuleConfig:
        """A digest is one message per schedule: per-event grouping has nothing to group."""
        if self.digest is not None:
            for key in ("group_by", "group_wait", "group_interval", "repeat_interval"):
                if getattr(self, key):
                    raise field_error(key, "does not apply to a digest rule; leave it out")
        return self

    @field_validator("group_by")
    @classmethod
    def _group_fields(cls, value: list[str]) -> list[str]:
        for field in value:
            if field not in GROUP_FIELDS:
                raise ValueError(f"cannot group by {field!r}; one of {', '.join(GROUP_FIELDS)}")
        return value


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MuteWindowConfig(ConfigModel):
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
        ok = sep and re.fullmatch(r"[0-9]{1,2}", hours) and re.fullmatch(r"[0-9]{2}", minutes)
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
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415 -- rare: mutes only

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: `America` is a folder
            raise ValueError(f"unknown time zone {value!r}, e.g. Europe/Berlin") from None
        return value

    @model_validator(mode="after")
    def _targets(self) -> MuteWindowConfig:
        if not self.rules and not self.channels:
            raise field_error("rules", "name at least one rule or channel to mute")
        return self


def check_mutes(mutes: list[MuteWindowConfig], rules: set[str], channels: set[str]) -> None:
    """Every muted rule and channel exists."""
    for index, mute in enumerate(mutes):
        for position, rule_name in enumerate(mute.rules):
            if rule_name not in rules:
                raise field_error(
                    f"mutes[{index}].rules[{position}]", f"unknown rule {rule_name!r}"
                )
        for position, channel in enumerate(mute.channels):
            if channel not in channels:
                raise field_error(
                    f"mutes[{index}].channels[{position}]", f"unknown channel {channel!r}"
                )
