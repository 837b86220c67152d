"""Reading the configuration file: YAML, `${VAR}` interpolation, NOTIFIER_ overrides, errors.

Library code raises `ConfigError` whose lines read `path: message`; the CLI prints them and
exits 2. No message contains a value that was given, so no secret can leak through one.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from notifier.config.base import ConfigError, FieldError
from notifier.config.env import ENVIRON
from notifier.config.models import Settings

DEFAULT_PATH = Path("config/notifier.yaml")


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_STRAY = re.compile(r"\$\{[A-Za-z_}]")

# Far beyond any real configuration; a file past them is a mistake or an alias bomb.
MAX_DEPTH = 50
MAX_VALUES = 100_000


class _TooManyValues(Exception):
    """The walk met more than MAX_VALUES values (YAML aliases can repeat a block many times)."""


def interpolate(value: Any, environ: Mapping[str, str], path: str = "") -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string value; `$${` keeps a literal.

    As in the shell, `${VAR:-default}` uses the default when VAR is unset or empty. Mapping
    keys must be strings, nesting stops at MAX_DEPTH and the whole at MAX_VALUES values.
    """
    return _Walk(environ).walk(value, path, 0)


class _Walk:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.left = MAX_VALUES

    def walk(self, value: Any, path: str, depth: int) -> Any:
        self.left -= 1
        if self.left < 0:
            raise _TooManyValues
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            raise ConfigError(f"{path or '(root)'}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    where = _join(path, _key_text(key))
                    raise ConfigError(f"{where}: keys must be strings; put this one in quotes")
                out[key] = self.walk(item, _join(path, key), depth + 1)
            return out
        if isinstance(value, list):
            return [self.walk(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value

        stray = ConfigError(
            f"{path or '(root)'}: a `${{` that is not ${{VAR}} or ${{VAR:-default}} "
            "(write $${ for a literal one)"
        )

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if default is not None and "${" in default:
                raise stray  # `${A:-${B}}`: nested references are not read
            found = self.environ.get(name)
            if default is not None and not found:
                return default
            if found is not None:
                return found
            raise ConfigError(f"{path or '(root)'}: environment variable {name} is not set")

        parts = value.split("$${")
        replaced = [_VAR.sub(replace, part) for part in parts]
        # `${KEY`, `${KEY-x}`, `${KEY:?x}`, `${}`: meant as a reference, not one. A `${{` (a
        # dollar before a Jinja expression in a template) is text.
        if any(_STRAY.search(_VAR.sub("", part)) for part in parts):
            raise stray
        return "${".join(replaced)


def _key_text(key: object) -> str:
    """A non-string key as YAML wrote it, near enough to find it in the file."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return str(key).lower()
    if isinstance(key, float) or (isinstance(key, int) and abs(key) < 10**30):
        return str(key)
    if isinstance(key, date):
        return key.isoformat()
    return f"({type(key).__name__})"


def _join(path: str, key: object) -> str:
    text = str(key)
    if not text.isprintable():  # a newline in a key must not split the message's lines
        text = repr(text)
    return f"{path}.{text}" if path else text


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
        if isinstance(cause, FieldError):
            path, message = _join(path, cause.path), str(cause)
        elif isinstance(cause, ValueError):
            message = str(cause)
        else:
            message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] in ("union_tag_not_found", "union_tag_invalid"):
            # A tagged union (a channel's `type`): name the field, not pydantic's wording.
            path = _join(path, str(context.get("discriminator", "type")).strip("'"))
            expected = str(context.get("expected_tags", "")).replace("'", "")
            message = f"must be one of: {expected}" if expected else "required"
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
    data = _parse(file, _read(file))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of sections")
    try:
        data = interpolate(data, environ)
    except _TooManyValues:
        raise ConfigError(
            f"{file}: more than {MAX_VALUES} values in all (each use of a YAML alias counts)"
        ) from None
    # BaseSettings reads `_env_prefix`, `_cli_parse_args`, ... from its keyword arguments.
    hidden = [key for key in data if key.startswith("_")]
    if hidden:
        raise ConfigError("\n".join(f"{key}: unknown key" for key in hidden))
    token = ENVIRON.set(environ)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_messages(exc))) from None
    finally:
        ENVIRON.reset(token)


def _read(file: Path) -> str:
    """The file's text: UTF-8 (a BOM is allowed), or UTF-16 with its BOM."""
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{file}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass  # not UTF-16 after all: report it as the UTF-8 it should be
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - raw.rfind(b"\n", 0, exc.start)
        raise ConfigError(
            f"{file}: not UTF-8 text at line {line}, column {column}; save it as UTF-8"
        ) from None


class _Loader(yaml.SafeLoader):
    """SafeLoader whose unreadable values (`2026-13-45`, a 5000-digit int) are YAML errors."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        # What SafeConstructor lets slip on explicit tags: `!!bool maybe` (KeyError),
        # `!!int ""` (IndexError), `!!timestamp abc` (AttributeError), `2026-13-45`...
        except (ValueError, OverflowError, LookupError, AttributeError, TypeError):
            kind = node.tag.rpartition(":")[2]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this {kind} (quote it if it is text)", node.start_mark
            ) from None

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        """A key written twice is an error: YAML would keep the last one without a word.
        Checked as written, before merge keys (`<<: *base`) copy keys in."""
        node: yaml.MappingNode = super().compose_mapping_node(anchor)
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.composer.ComposerError(
                        None, None, f"key {key_node.value!r} is given twice", key_node.start_mark
                    )
                seen.add(key_node.value)
        return node


def _parse(file: Path, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ConfigError(
            f"{file}: unacceptable character #x{exc.character:04x} at line {line}"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{file}: {problem}{where}") from None
    except RecursionError:
        raise ConfigError(f"{file}: nested too deeply to read") from None
