"""The metrics operators alert on, scraped from a real daemon, and a logger on every line."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import aiohttp
import pytest
import structlog
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bench.scrape import metric
from notifier import logs
from notifier.status.metrics import Metrics
from tests.harness import DaemonProcess, Receiver, Sim, eventually, free_port, write_config

pytestmark = pytest.mark.timeout(120)


async def scrape(base: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as r:
        assert r.status == 200
        return await r.text()


def names(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


async def test_a_running_daemon_reports_what_alerts_need(
    sim: Sim, receiver: Receiver, tmp_path: Path
) -> None:
    """process_*, python_*, build info, last successful poll per source, and the age of the
    oldest undelivered row per channel (growing while the target fails, 0 once it is back)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(
        tmp_path / "config.yaml",
        sim.url,
        receiver.url,
        http={"enabled": True, "listen": f"127.0.0.1:{port}"},
    )
    receiver.fail_next = 10**6
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:

        async def polled() -> bool:
            try:
                text = await scrape(base)
            except aiohttp.ClientError:
                return False
            stamp = "notifier_last_successful_poll_timestamp_seconds"
            return all(metric(text, stamp, source=s) > 0 for s in ("extract_v2", "parse_v2"))

        await eventually(polled, timeout=20)
        text = await scrape(base)
        found = names(text)
        for family in ("process_resident_memory_bytes", "process_cpu_seconds", "python_info"):
            assert family in found, family
        assert any(name.startswith("python_gc_") for name in found)
        assert metric(text, "notifier_build_info", version=version("llamacloud-notifier")) == 1
        for source in ("extract_v2", "parse_v2"):
            stamp = metric(text, "notifier_last_successful_poll_timestamp_seconds", source=source)
            assert time.time() - 30 < stamp <= time.time() + 1
        age = "notifier_outbox_oldest_pending_age_seconds"
        assert f'{age}{{channel="hook"}} 0.0' in text  # nothing waits yet: 0, not absent
        assert metric(text, "notifier_config_last_reload_successful") == 1

        job = await sim.create("extract_v2")  # its delivery fails and waits

        async def waiting() -> bool:
            return metric(await scrape(base), age, channel="hook") >= 1.0

        await eventually(waiting, timeout=20)
        receiver.fail_next = 0
        await receiver.wait_for(lambda: len(receiver.transitions(job)) == 1)

        async def caught_up() -> bool:
            return metric(await scrape(base), age, channel="hook") == 0

        await eventually(caught_up, timeout=20)
    finally:
        assert await daemon.terminate() == 0
    records = [json.loads(line) for line in daemon.log_text().splitlines() if line]
    assert records and all(str(r.get("logger", "")) for r in records)
    loggers = {r["logger"] for r in records}
    assert "notifier.daemon" in loggers and "notifier.delivery" in loggers


@pytest.fixture
def fresh_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def test_logger_name_on_structlog_and_library_lines(fresh_logging: None) -> None:
    """`logger` names the module (structlog) or the library logger (stdlib) that wrote it."""
    stream = io.StringIO()
    logs.configure_logging("info", "json", stream=stream)
    structlog.get_logger("notifier.delivery").info("delivered")
    logging.getLogger("aiohttp.server").warning("slow client")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["logger"] == "notifier.delivery" and first["event"] == "delivered"
    assert second["logger"] == "aiohttp.server" and second["level"] == "warning"


def test_age_is_computed_at_each_scrape() -> None:
    """The oldest pending row's age grows with the clock between scrapes; idle channels read
    0; the build info carries the version it was given."""
    metrics = Metrics(version="9.9.9")
    created = datetime(2027, 1, 15, 8, 0, tzinfo=UTC).timestamp()
    now = [created + 90]
    metrics.alerting.watch_pending(
        lambda: {"hook": "2027-01-15T08:00:00.000000Z"}, lambda: ["hook", "idle"], lambda: now[0]
    )
    age = "notifier_outbox_oldest_pending_age_seconds"
    text = generate_latest(metrics.registry).decode()
    assert metric(text, age, channel="hook") == 90 and metric(text, age, channel="idle") == 0
    now[0] += 60
    assert metric(generate_latest(metrics.registry).decode(), age, channel="hook") == 150
    assert metric(text, "notifier_build_info", version="9.9.9") == 1
