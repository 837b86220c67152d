"""The watchdog: the notifier's own troubles told once each, resolved once, across restarts;
decisions pure (core.watchdog), then through a running daemon against the simulator."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifier.config.base import ConfigError
from notifier.config.load import load_settings
from notifier.config.models import Settings
from notifier.core.statuses import SourceType
from notifier.core.timestamps import format_ts
from notifier.core.watchdog import (
    Action,
    ChannelFact,
    Facts,
    Kind,
    OpenTrouble,
    SourceFact,
    WatchdogSpec,
    api_trouble,
    decide,
    troubles,
)
from notifier.daemon import Daemon
from notifier.simulator import start_simulator
from notifier.simulator.app import Fault
from tests.harness import API_KEY, Receiver, run_notifier

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SPEC = WatchdogSpec(channels=("alerts",), source_failing_for=timedelta(minutes=10))


def facts(**kw: Any) -> Facts:
    return Facts(now=NOW, started_at=NOW - timedelta(hours=1), **kw)


class TestTroubles:
    def test_a_source_failing_long_enough_names_the_error(self) -> None:
        """Failing for 12 min (over 10) with 402 is a trouble; 5 min is not yet."""
        failing = SourceFact(
            "extract_v2", format_ts(NOW - timedelta(minutes=12)), "GET /api/v2/extract: HTTP 402"
        )
        recent = SourceFact("parse_v2", format_ts(NOW - timedelta(minutes=5)), "HTTP 503")
        healthy = SourceFact("extraction_v1/agent-1", format_ts(NOW), None)
        found, unknown = troubles(facts(sources=[failing, recent, healthy]), SPEC)
        assert list(found) == ["source_failing:extract_v2"]
        summary = found["source_failing:extract_v2"].summary
        assert summary.startswith("source extract_v2 failing for 12m: out of credits (HTTP 402)")
        assert unknown == {"channel_dead:alerts"}  # not heard of since the start

    @pytest.mark.parametrize(
        ("error", "words"),
        [
            ("GET /api/v2/extract: HTTP 401: the API key was rejected", "API key was rejected"),
            ("GET /api/v2/parse: HTTP 402", "out of credits (HTTP 402)"),
            ("HTTP 503 (gave up after 6 attempts)", "LlamaCloud server error (HTTP 503)"),
            ("ClientConnectorError: connection refused", "unreachable or failing"),
        ],
    )
    def test_api_errors_in_an_operators_words(self, error: str, words: str) -> None:
        assert words in api_trouble(error)

    def test_a_source_that_never_succeeded_counts_from_the_start(self) -> None:
        never = SourceFact("extract_v2", None, "HTTP 401")
        assert troubles(facts(sources=[never]), SPEC)[0]
        just_started = Facts(now=NOW, started_at=NOW - timedelta(minutes=1), sources=[never])
        found, unknown = troubles(just_started, SPEC)
        assert not found  # not yet: but an announced trouble of it stays open (a restart)
        assert "source_failing:extract_v2" in unknown

    def test_dead_channels_old_outboxes_and_store_errors(self) -> None:
        found, unknown = troubles(
            facts(
                channels={
                    "alerts": ChannelFact(None),
                    "hook": ChannelFact(NOW - timedelta(minutes=1), "answered HTTP 410"),
                },
                outbox_oldest={"slack": NOW - timedelta(minutes=20), "hook": NOW},
                store_error_at=NOW - timedelta(minutes=1),
                store_error="OperationalError: database or disk is full",
            ),
            SPEC,
        )
        assert sorted(found) == ["channel_dead:hook", "outbox_stale:slack", "store_error:store"]
        assert "answered HTTP 410" in found["channel_dead:hook"].summary
        assert "waits for 20m" in found["outbox_stale:slack"].summary
        assert "disk is full" in found["store_error:store"].summary
        assert unknown == set()
        later = facts(
            store_error_at=NOW - timedelta(minutes=6), channels={"alerts": ChannelFact(None)}
        )
        assert troubles(later, SPEC)[0] == {}  # five quiet minutes end a store trouble


class TestDecide:
    trouble = OpenTrouble("source_failing:x", "source_failing", "x", format_ts(NOW), "s", "wdg_1")

    def test_announced_once_resolved_once(self) -> None:
        failing = SourceFact("x", None, "HTTP 500")
        current, unknown = troubles(facts(sources=[failing]), SPEC)
        first = decide({}, current, unknown, SPEC, NOW)
        assert [(d.action, d.key) for d in first] == [(Action.ANNOUNCE, "source_failing:x")]
        notice = first[0].notice
        assert notice is not None and notice.type == "notifier.trouble"
        assert notice.job["status"] == "firing" and notice.job["kind"] == Kind.SOURCE_FAILING
        opened = {"source_failing:x": first[0].opened}
        assert decide(opened, current, unknown, SPEC, NOW) == []  # type: ignore[arg-type]
        ended = decide(opened, {}, set(), SPEC, NOW + timedelta(minutes=3))  # type: ignore[arg-type]
        assert [(d.action, d.reason) for d in ended] == [(Action.RESOLVE, "ended")]
        resolved = ended[0].notice
        assert resolved is not None and resolved.type == "notifier.resolved"
        assert resolved.job["trouble_id"] == notice.id

    def test_unknown_facts_keep_a_trouble_open(self) -> None:
        """After a restart a dead channel is not called healthy before it is heard of."""
        row = OpenTrouble("channel_dead:hook", "channel_dead", "hook", format_ts(NOW), "s", "w")
        assert decide({row.key: row}, {}, {row.key}, SPEC, NOW) == []

    def test_without_send_resolved_the_trouble_closes_silently(self) -> None:
        quiet = WatchdogSpec(channels=("alerts",), send_resolved=False)
        (decision,) = decide({self.trouble.key: self.trouble}, {}, set(), quiet, NOW)
        assert decision.action is Action.RESOLVE and decision.notice is None


def write(tmp_path: Path, sim_url: str, alerts: str, hook: str, **extra: Any) -> Settings:
    data: dict[str, Any] = {
        "llamacloud": {"api_key": API_KEY, "base_url": sim_url, "max_retries": 0},
        "store": {"path": str(tmp_path / "n.db")},
        "polling": {"interval": "200ms", "initial_sync": "notify"},
        "sources": [{"type": "extract_v2"}],
        "channels": {
            "alerts": {"type": "webhook", "url": alerts, "secret": Receiver().secret},
            "hook": {"type": "webhook", "url": hook, "secret": Receiver().secret},
        },
        "rules": [{"name": "all", "notify": ["hook"]}],
        "delivery": {"backoff_base": "100ms", "max_attempts": 1},
        "http": {"enabled": False},
        "watchdog": {"notify": ["alerts"], "source_failing_for": "1s", "check_every": "200ms"},
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_settings(path, {})


async def run_for(settings: Settings, until: Any, timeout: float = 15.0) -> None:
    """Run the daemon until `until()` holds (or for `timeout`), then stop it cleanly."""
    stop = asyncio.Event()
    running = asyncio.create_task(Daemon(settings).run(stop))
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not until() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, 20)


def notices(receiver: Receiver) -> list[tuple[str, str]]:
    return [
        (r.payload["type"], r.payload["data"]["subject"])
        for r in receiver.received
        if r.payload["type"].startswith("notifier.")
    ]


async def test_out_of_credits_told_once_across_a_restart_then_resolved(tmp_path: Path) -> None:
    """402 on every request: one trouble naming it, none again after a restart, and one
    "resolved" once LlamaCloud answers again."""
    alerts, hook = await Receiver().start(), await Receiver().start()
    runner, sim_url, sim = await start_simulator(api_key=API_KEY)
    sim.faults.append(Fault("status", status=402))
    settings = write(tmp_path, sim_url, alerts.url, hook.url)
    try:
        await run_for(settings, lambda: len(alerts.received) >= 1)
        assert notices(alerts) == [("notifier.trouble", "extract_v2")]
        first = alerts.received[0]
        assert "out of credits (HTTP 402)" in first.payload["data"]["title"]
        assert first.payload["data"]["rule"] == "watchdog" and not alerts.bad

        await run_for(settings, lambda: False, timeout=2.0)  # restarted: still failing
        assert len(alerts.received) == 1

        sim.faults.clear()
        await run_for(settings, lambda: len(alerts.received) >= 2)
        assert notices(alerts) == [
            ("notifier.trouble", "extract_v2"),
            ("notifier.resolved", "extract_v2"),
        ]
        assert alerts.received[1].payload["data"]["trouble_id"] == first.webhook_id
        with sqlite3.connect(tmp_path / "n.db") as conn:
            assert conn.execute("SELECT count(*) FROM troubles").fetchone() == (0,)
    finally:
        await alerts.stop()
        await hook.stop()
        await runner.cleanup()


async def test_a_channel_going_dead_and_coming_back(tmp_path: Path) -> None:
    """A delivery dead-lettered is a trouble of its channel; the next one accepted ends it."""
    alerts, hook = await Receiver().start(), await Receiver().start()
    runner, sim_url, sim = await start_simulator(api_key=API_KEY)
    settings = write(tmp_path, sim_url, alerts.url, hook.url)
    try:
        hook.fail_next = 1  # 500 with max_attempts 1: dead at once
        sim.jobs.create(SourceType.EXTRACT_V2, "FAILED")
        await run_for(settings, lambda: len(alerts.received) >= 1)
        assert notices(alerts) == [("notifier.trouble", "hook")]
        assert "dead-lettered" in alerts.received[0].payload["data"]["summary"]
        sim.jobs.create(SourceType.EXTRACT_V2, "COMPLETED")
        await run_for(settings, lambda: len(alerts.received) >= 2)
        assert notices(alerts)[1] == ("notifier.resolved", "hook")
        assert len(hook.received) == 1  # the COMPLETED job's event went through
    finally:
        await alerts.stop()
        await hook.stop()
        await runner.cleanup()


def test_watchdog_channels_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    data = {
        "llamacloud": {"api_key": "k-123456"},
        "sources": [{"type": "extract_v2"}],
        "channels": {"alerts": {"type": "webhook", "url": "http://127.0.0.1:9/"}},
        "watchdog": {"notify": ["alert"]},
    }
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert (
        str(caught.value) == "watchdog.notify[0]: unknown channel 'alert'; did you mean 'alerts'?"
    )


async def test_a_store_that_fails_is_told_straight_to_the_channel_once(tmp_path: Path) -> None:
    """A store error is a trouble; when the store cannot even take the notice, it goes to the
    watchdog's channel directly, once, and is recorded (not sent again) once the store works."""
    from notifier.channels.webhook import WebhookChannel
    from notifier.notices.watchdog import Watchdog
    from notifier.store.db import Store

    alerts = await Receiver().start()
    channel = WebhookChannel("alerts", alerts.url, secret=alerts.secret)
    store = Store(tmp_path / "n.db")
    clock = [NOW]
    watchdog = Watchdog(
        store,
        WatchdogSpec(channels=("alerts",)),
        {"alerts": channel},
        scopes=[],
        clock=lambda: clock[0],
    )
    try:
        store.conn.close()  # every statement now fails with sqlite3.ProgrammingError
        watchdog.store_error(sqlite3.OperationalError("database or disk is full"))
        assert await watchdog.tick() == 0
        assert await watchdog.tick() == 0
        await alerts.wait_for(lambda: len(alerts.received) == 1)
        data = alerts.received[0].payload["data"]
        assert (data["kind"], data["status"]) == ("store_error", "firing")
        assert "Cannot operate on a closed database" in data["summary"]

        store = Store(tmp_path / "n.db")  # the store works again
        watchdog.store = store
        assert await watchdog.tick() == 0  # recorded as open, not told twice
        assert list(store.notices.open_troubles()) == ["store_error:store"]
        clock[0] = NOW + timedelta(minutes=6)
        assert await watchdog.tick() == 1  # quiet for 5 minutes: resolved, through the outbox
        assert store.outbox.counts() == {("alerts", "pending"): 1}
        assert len(alerts.received) == 1
    finally:
        store.close()
        await channel.close()
        await alerts.stop()


def test_check_shows_the_watchdog(tmp_path: Path) -> None:
    """`check` names the watchdog's channel and what it watches."""
    path = tmp_path / "c.yaml"
    data = {
        "llamacloud": {"api_key": "k-123456"},
        "store": {"path": str(tmp_path / "n.db")},
        "sources": [{"type": "extract_v2"}],
        "channels": {"alerts": {"type": "webhook", "url": "http://127.0.0.1:9/"}},
        "watchdog": {"notify": ["alerts"], "source_failing_for": "5m"},
    }
    path.write_text(yaml.safe_dump(data))
    result = run_notifier("check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert (
        "watchdog         -> alerts: sources failing 5m, dead channels, outbox older than 15m, "
        "store errors; with resolved messages" in result.stdout
    )
