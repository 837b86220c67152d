"""logs: JSON lines, console output, and redaction of every secret in every position."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest
import structlog

from notifier import logs, secrets

SECRET = "llx-very-secret-api-key"


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    secrets._secrets.clear()
    secrets.register_secrets([])
    yield
    secrets._secrets.clear()
    secrets.register_secrets([])
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_level_event_and_timestamp() -> None:
    """One JSON object per line, with the fields a log pipeline needs."""
    stream = io.StringIO()
    logs.configure_logging("info", "json", stream=stream)
    structlog.get_logger("t").info("transition", job_id="ext-1", to="FAILED")
    structlog.get_logger("t").debug("hidden")
    (record,) = lines(stream)
    assert (
        record["event"] == "transition"
        and record["level"] == "info"
        and record["job_id"] == "ext-1"
    )
    assert str(record["timestamp"]).endswith("Z")


def test_console_format_is_plain_text() -> None:
    """`console` renders readable text, not JSON."""
    stream = io.StringIO()
    logs.configure_logging("info", "console", stream=stream)
    structlog.get_logger("t").warning("poll_failed", source="extract_v2")
    text = stream.getvalue()
    assert "poll_failed" in text and "source=extract_v2" in text and not text.startswith("{")


def test_auto_picks_json_off_a_tty() -> None:
    """A container's stdout is not a TTY: JSON."""
    stream = io.StringIO()
    logs.configure_logging("info", "auto", stream=stream)
    structlog.get_logger("t").info("hello")
    assert lines(stream)[0]["event"] == "hello"


def test_registered_secrets_are_redacted_everywhere() -> None:
    """Values, nested values, exceptions and tracebacks never show a registered secret."""
    stream = io.StringIO()
    logs.configure_logging("info", "json", secrets=[SECRET, "TokenBBBB"], stream=stream)
    log = structlog.get_logger("t")
    log.info(
        "request", header=f"Authorization: {SECRET}", nested={"urls": ["slack://a/TokenBBBB/c"]}
    )
    try:
        raise RuntimeError(f"failed with key {SECRET}")
    except RuntimeError:
        log.exception("boom")
    log.info("error_value", error=ValueError(SECRET))
    text = stream.getvalue()
    assert SECRET not in text and "TokenBBBB" not in text
    records = lines(stream)
    assert records[0]["nested"] == {"urls": ["slack://a/***/c"]}
    assert "***" in str(records[1]["exception"]) and "RuntimeError" in str(records[1]["exception"])


def test_generic_patterns() -> None:
    """Bearer tokens and URL passwords are masked even when nobody registered them."""
    assert secrets.redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer ***"
    assert secrets.redact("GET https://user:pa55@host/x") == "GET https://***@host/x"
    assert secrets.redact("mailto://me@example.com") == "mailto://me@example.com"


def test_stdlib_logging_is_redacted_too() -> None:
    """aiohttp, apscheduler and apprise log through `logging`; those lines are redacted."""
    stream = io.StringIO()
    logs.configure_logging("info", "json", secrets=[SECRET], stream=stream)
    logging.getLogger("apprise").warning("could not send to %s", f"json://{SECRET}@host")
    logging.getLogger("apprise").info("quiet below warning")
    (record,) = lines(stream)
    assert SECRET not in stream.getvalue() and record["level"] == "warning"
    assert record["logger"] == "apprise"


def test_short_values_are_not_registered() -> None:
    """Strings under 4 characters would blank common words; they are ignored."""
    secrets.register_secrets(["ab", ""])
    assert secrets.redact("ab cd") == "ab cd"


class _SlowStream(io.StringIO):
    """A stream that writes in two halves and lets other threads run in between."""

    def write(self, text: str) -> int:
        half = len(text) // 2
        super().write(text[:half])
        time.sleep(0)
        return super().write(text[half:]) + half


def test_lines_from_threads_and_libraries_never_splice() -> None:
    """structlog lines and library (stdlib) lines from several threads stay whole lines."""
    stream = _SlowStream()
    logs.configure_logging("info", "json", stream=stream)
    library = logging.getLogger("apprise")

    def ours(n: int) -> None:
        for i in range(200):
            structlog.get_logger("t").info("ours", thread=n, i=i)

    def theirs() -> None:
        for i in range(200):
            library.warning("Failed to send JSON POST notification %d", i)

    threads = [threading.Thread(target=ours, args=(n,)) for n in range(2)]
    threads.append(threading.Thread(target=theirs))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = lines(stream)
    assert len(records) == 600
    assert sum(r["event"] == "ours" for r in records) == 400
