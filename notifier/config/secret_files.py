"""Secrets kept in files, as Alertmanager and container platforms keep them.

Two ways, both read at load time (and again on every reload):

- a `_file` sibling of a secret key (`llamacloud.api_key_file`, `channels.NAME.secret_file`,
  `channels.NAME.urls_file`, `http.token_file`, `native_webhooks.secret_file`/`token_file`):
  the file's text, trailing newlines stripped, becomes the key's value; giving both is an
  error;
- a secrets directory (Docker's `/run/secrets`, a Kubernetes secret volume mounted there,
  systemd's `$CREDENTIALS_DIRECTORY`, or `$NOTIFIER_SECRETS_DIR`): a file named like the
  NOTIFIER_ variable of a key (`notifier_llamacloud__api_key`, any case) fills that key when
  neither the YAML nor the environment gives it.

Errors name the key and the path, never what a file holds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator
from pydantic_settings import PydanticBaseSettingsSource
from pydantic_settings.sources import NestedSecretsSettingsSource

from notifier.config.base import ConfigError, field_error
from notifier.config.env import ENV_PREFIX, ENVIRON

# A secret or a list of URLs is a few hundred bytes; a bigger file is the wrong file.
MAX_SECRET_BYTES = 64 * 1024

SecretFile = Annotated[
    Path | None,
    Field(
        description="Read this key's value from a file (trailing newlines stripped); "
        "give the key or its _file sibling, not both.",
        examples=["/run/secrets/llama_cloud_api_key"],
    ),
]


def read_secret_file(path: Path, key: str) -> str:
    """The text of a secret file, trailing newlines stripped; a FieldError naming `key` and
    the path (never the content) when it cannot be read or holds nothing."""
    if "\0" in str(path):
        raise field_error(key, "must not contain a NUL character")
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise field_error(key, f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SECRET_BYTES:
        raise field_error(key, f"{path} is larger than {MAX_SECRET_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise field_error(key, f"{path} is not UTF-8 text") from None
    if not text.strip():
        raise field_error(key, f"{path} is empty")
    return text


def read_url_lines(path: Path, key: str) -> list[str]:
    """One URL a line; blank lines and lines starting with # are skipped."""
    lines = [line.strip() for line in read_secret_file(path, key).splitlines()]
    urls = [line for line in lines if line and not line.startswith("#")]
    if not urls:
        raise field_error(key, f"{path} holds no URL (one a line)")
    return urls


def secret_files(*keys: str, lines: frozenset[str] = frozenset()) -> Any:
    """A `mode="before"` model validator resolving `<key>_file` into `<key>` for each key
    (`lines`: keys whose file holds one value a line, such as apprise `urls`)."""

    def resolve(cls: type, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data  # pydantic reports the wrong type itself
        out = dict(data)
        for key in keys:
            path = out.get(f"{key}_file")
            if path is None or (isinstance(path, str) and not path.strip()):
                continue
            if not isinstance(path, str | os.PathLike):
                raise field_error(f"{key}_file", "must be a file path")
            given = out.get(key)
            # A value from a secrets directory yields to a _file the YAML or a variable names.
            blank = isinstance(given, str) and not given.strip()
            if given is not None and not blank and not isinstance(given, FromDirectory):
                raise field_error(f"{key}_file", f"give {key} or {key}_file, not both")
            file = Path(path)
            out[key] = (
                read_url_lines(file, f"{key}_file")
                if key in lines
                else read_secret_file(file, f"{key}_file")
            )
        return out

    return model_validator(mode="before")(classmethod(resolve))  # type: ignore[arg-type]


# -- secrets directories ---------------------------------------------------------------------

DEFAULT_SECRETS_DIRS = (Path("/run/secrets"),)


def secrets_dirs(environ: Mapping[str, str]) -> list[Path]:
    """Where secret files may wait, later ones winning: /run/secrets, $CREDENTIALS_DIRECTORY
    (systemd's LoadCredential=), $NOTIFIER_SECRETS_DIR."""
    found = list(DEFAULT_SECRETS_DIRS)
    for name in ("CREDENTIALS_DIRECTORY", "NOTIFIER_SECRETS_DIR"):
        if environ.get(name):
            found.append(Path(environ[name]))
    return found


class FromDirectory(str):
    """A value read from a secrets directory: the lowest source, so a `_file` key given
    anywhere else replaces it instead of clashing with it."""

    __slots__ = ()


def _marked(value: Any) -> Any:
    if isinstance(value, str):
        return FromDirectory(value)
    if isinstance(value, dict):
        return {key: _marked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_marked(item) for item in value]
    return value


class SecretsDirectory(NestedSecretsSettingsSource):
    """pydantic-settings' secrets directory, reading only files named NOTIFIER_* (a shared
    /run/secrets holds other services' secrets too, binary ones included)."""

    def __init__(self, file_secrets: PydanticBaseSettingsSource) -> None:
        environ = ENVIRON.get(os.environ)
        dirs = [d for d in secrets_dirs(environ) if d.is_dir()]
        try:
            super().__init__(
                file_secrets,
                secrets_dir=dirs,
                secrets_dir_missing="ok",
                secrets_prefix=ENV_PREFIX,
                secrets_nested_delimiter="__",
                secrets_case_sensitive=False,
            )
        except ConfigError:
            raise
        except Exception as exc:  # SettingsError: a directory too large or too deep
            raise ConfigError(f"secrets directory: {exc}") from None

    def __call__(self) -> dict[str, Any]:
        return {key: _marked(value) for key, value in super().__call__().items()}

    @classmethod
    def load_secrets(cls, path: Path) -> dict[str, str]:
        found: dict[str, str] = {}
        for file in cls._iter_secret_files(path):
            name = str(file.relative_to(path))
            if not name.upper().startswith(ENV_PREFIX):
                continue
            try:
                found[name] = read_secret_file(file, name)
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from None
        return found
