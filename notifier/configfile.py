"""Reading the configuration file: YAML, `${VAR}` interpolation, NOTIFIER_ overrides, errors.

Library code raises `ConfigError` whose lines read `path: message`; the CLI prints them and
exits 2. No message contains a value that was given, so no secret can leak through one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from pydantic import ValidationError

from notifier.settings import _ENVIRON, ConfigError, Settings, WebhookChannel
from notifier.settings_base import _FieldError

DEFAULT_PATH = Path("config/notifier.yaml")


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
    found += [v for k, v in parse_qsl(parts.query) if k.lower() not in _PLAIN_QUERY_KEYS]
    if whole:
        host = parts.netloc.rpartition("@")[2].split(":")[0]  # as written: tokens keep case
        # slack://TokenA/... keeps a token where the host would be; a dotted name or address
        # (json://127.0.0.1) is a place, and masking it would blank it in every log line.
        if parts.scheme not in ("http", "https", "mailto", "mailtos") and _is_token(host):
            found.append(host)
        # Path tokens, but not plain words such as `services` that would blank every log line.
        found += [
            seg
            for seg in parts.path.split("/")
            if seg and not seg.startswith("#") and not re.fullmatch(r"[a-z]{1,15}", seg)
        ]
    return found


# Query keys of apprise URLs whose values are addresses or options, not credentials.
_PLAIN_QUERY_KEYS = frozenset(
    {"to", "from", "cc", "bcc", "format", "mode", "smtp", "port", "name", "verify", "overflow"}
)


def _is_token(host: str) -> bool:
    return bool(host) and "." not in host and host.lower() != "localhost" and ":" not in host
