"""structlog set-up: JSON lines in a container, readable on a terminal, secrets always redacted."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

from notifier.secrets import redact, register_secrets

# structlog's lines and the library loggers' lines (apprise logs from worker threads) share
# one stream; one lock around each whole line keeps them from splicing into each other.
_WRITE_LOCK = threading.RLock()


class _LineLogger:
    """structlog's output: one whole line per call, under the shared lock."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def msg(self, message: str) -> None:
        with _WRITE_LOCK:
            self._out.write(message + "\n")
            self._out.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class _SharedLockHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The library loggers' handler, writing under the same lock as structlog."""

    def createLock(self) -> None:
        self.lock = _WRITE_LOCK


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: redact every value, rendered tracebacks included."""
    return {key: _redact_value(value) for key, value in event_dict.items()}


def configure_logging(
    level: str = "info",
    fmt: str = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Log to stderr (stdout is for command output), JSON unless `console` or a TTY."""
    register_secrets(secrets)
    out = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    tail: list[structlog.typing.Processor] = [
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *_: _LineLogger(out),
        cache_logger_on_first_use=False,
    )
    # Library loggers (aiohttp, apscheduler, apprise) go through the same redaction.
    handler = _SharedLockHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *tail,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING))
