"""structlog set-up: JSON lines in a container, readable on a terminal, secrets always redacted."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, TextIO

import structlog
from aiohttp.http_exceptions import HttpProcessingError

from notifier.secrets import redact, register_secrets

# structlog's lines and the library loggers' lines (apprise logs from worker threads) share
# one stream; one lock around each whole line keeps them from splicing into each other.
_WRITE_LOCK = threading.RLock()


class _LineLogger:
    """structlog's output: one whole line per call, under the shared lock. `name` is what
    `structlog.get_logger(__name__)` was given, for `add_logger_name`."""

    def __init__(self, out: TextIO, name: str = "notifier") -> None:
        self._out = out
        self.name = name

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


class BadRequestFilter(logging.Filter):
    """aiohttp logs a malformed request as an error with a traceback quoting the client's
    bytes: anyone could fill the log with it. One warning line instead, naming the error's
    kind and the client, at most once per `every` seconds (with a count of the rest)."""

    def __init__(self, every: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self.clock = clock
        self._last = -every
        self._skipped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Error handling request"):
            return True
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True  # a bug of ours in a handler: its traceback is worth reading
        now = self.clock()
        if now - self._last < self.every:
            self._skipped += 1
            return False
        kind = type(error).__name__
        peer = str(record.args[0]) if isinstance(record.args, tuple) and record.args else "?"
        record.msg = "bad_http_request kind=%s client=%s (%d more since the last line)"
        record.args = (kind, peer[:64], self._skipped)
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        self._last, self._skipped = now, 0
        return True


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
    # `logger` on every line: the module that wrote it (`notifier.delivery`), or the library
    # logger's name (`aiohttp.server`), so a log pipeline can filter and route by it.
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
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
        logger_factory=lambda *args: _LineLogger(out, *(str(a) for a in args[:1])),
        cache_logger_on_first_use=False,
    )
    # Library loggers (aiohttp, apscheduler, apprise) go through the same redaction.
    handler = _SharedLockHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
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
    server = logging.getLogger("aiohttp.server")
    server.filters[:] = [f for f in server.filters if not isinstance(f, BadRequestFilter)]
    server.addFilter(BadRequestFilter())
