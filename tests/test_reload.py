"""Reload without restart: a real SIGHUP and POST /-/reload to a real daemon process."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.scrape import metric
from notifier.core.reloading import ReloadPlan, plan_reload
from tests.harness import (
    REPO,
    WEBHOOK_SECRET,
    DaemonProcess,
    Receiver,
    Sim,
    daemon_env,
    eventually,
    free_port,
    wait_baseline,
    write_config,
)

pytestmark = pytest.mark.timeout(120)
TOKEN = "status-page-token-8842"


@pytest.fixture
async def second() -> AsyncIterator[Receiver]:
    rec = await Receiver().start()
    yield rec
    await rec.stop()


@pytest.fixture
async def third() -> AsyncIterator[Receiver]:
    rec = await Receiver().start()
    yield rec
    await rec.stop()


def log_records(daemon: DaemonProcess, event: str) -> list[dict[str, Any]]:
    out = []
    for line in daemon.log_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == event:
            out.append(record)
    return out


async def logged(daemon: DaemonProcess, event: str, count: int = 1) -> dict[str, Any]:
    """The `count`-th log record of `event`, once the daemon has written it."""

    async def check() -> bool:
        return len(log_records(daemon, event)) >= count

    await eventually(check, timeout=20)
    return log_records(daemon, event)[count - 1]


async def request(
    method: str, url: str, token: str | None = None
) -> tuple[int, dict[str, Any] | str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers) as response,
    ):
        text = await response.text()
        if response.content_type == "application/json":
            return response.status, json.loads(text)
        return response.status, text


def hook(url: str, secret_file: Path) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "secret_file": str(secret_file)}


async def test_sighup_applies_new_rules_and_channels_and_keeps_the_queue(
    sim: Sim, receiver: Receiver, second: Receiver, third: Receiver, tmp_path: Path
) -> None:
    """A row queued for a channel whose target is down is sent to the target the reload
    gives it; a rule the reload adds routes the next events; restart-only keys are named."""
    secret_file = tmp_path / "webhook_secret"
    secret_file.write_text(WEBHOOK_SECRET + "\n")
    port = free_port()
    http = {"enabled": True, "listen": f"127.0.0.1:{port}", "token": TOKEN}
    config = write_config(
        tmp_path / "config.yaml",
        sim.url,
        receiver.url,
        channels={"hook": hook(receiver.url, secret_file)},
        http=http,
    )
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        await wait_baseline(tmp_path / "notifier.db")
        job = await sim.create("extract_v2")
        await receiver.wait_for(lambda: len(receiver.transitions(job)) == 1)
        receiver.fail_next = 10**6  # the first target goes down: the next row waits
        await sim.set_status(job, "RUNNING")

        async def queued() -> bool:
            _, text = await request("GET", f"http://127.0.0.1:{port}/metrics")
            age = metric(str(text), "notifier_outbox_oldest_pending_age_seconds", channel="hook")
            return age > 0

        await eventually(queued, timeout=20)

        write_config(
            config,
            sim.url,
            receiver.url,
            channels={
                "hook": hook(second.url, secret_file),
                "failures": hook(third.url, secret_file),
            },
            rules=[
                {"name": "everything", "notify": ["hook"]},
                {"name": "failures", "when": {"status": ["FAILED"]}, "notify": ["failures"]},
            ],
            polling={"interval": "250ms"},
            http=http,
        )
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGHUP)
        reloaded = await logged(daemon, "config_reloaded")
        assert reloaded["origin"] == "sighup"
        assert "channels.hook" in reloaded["applied"] and "rules" in reloaded["applied"]
        assert "channels.failures" in reloaded["applied"]
        assert reloaded["needs_restart"] == ["polling.interval"]

        # The row queued before the reload is not lost: it goes to the channel's new target.
        await second.wait_for(lambda: second.transitions(job) == [(job, "PENDING", "RUNNING")])
        await sim.set_status(job, "FAILED", error_message="parser crashed")
        await second.wait_for(lambda: len(second.transitions(job)) == 2)
        await third.wait_for(lambda: third.transitions(job) == [(job, "RUNNING", "FAILED")])
        assert third.received[0].payload["data"]["rule"] == "failures"
        assert receiver.transitions(job) == [(job, None, "PENDING")]

        _, text = await request("GET", f"http://127.0.0.1:{port}/metrics")
        assert metric(str(text), "notifier_config_last_reload_successful") == 1
        assert metric(str(text), "notifier_config_reloads_total", outcome="success") == 1
        assert metric(str(text), "notifier_outbox_oldest_pending_age_seconds") == 0
        assert daemon.process.returncode is None  # SIGHUP no longer ends the process
    finally:
        code = await daemon.terminate()
    assert code == 0
    assert receiver.bad == second.bad == third.bad == []


async def test_an_invalid_configuration_is_refused_and_the_running_one_stays(
    sim: Sim, receiver: Receiver, tmp_path: Path
) -> None:
    """SIGHUP and POST /-/reload with a broken file: refused with `check`'s messages, logged,
    counted; deliveries go on; the fixed file is taken by the next reload."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    http = {"enabled": True, "listen": f"127.0.0.1:{port}", "token": TOKEN}
    config = write_config(tmp_path / "config.yaml", sim.url, receiver.url, http=http)
    good = config.read_text()
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        await wait_baseline(tmp_path / "notifier.db")
        broken = json.loads(good)
        broken["polling"]["interval"] = "soon"
        broken["delivery"]["max_attempts"] = 0
        config.write_text(json.dumps(broken))
        check = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "notifier", "check", "--config", str(config)),
            cwd=REPO,
            env=daemon_env(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await check.communicate()
        assert check.returncode == 2
        # The lines after "notifier: invalid configuration:", as `check` prints them.
        expected = stderr.decode().splitlines()[1:]
        assert [line.split(":")[0] for line in expected] == [
            "polling.interval",
            "delivery.max_attempts",
        ]

        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGHUP)
        refused = await logged(daemon, "config_reload_refused")
        assert refused["errors"] == expected and refused["origin"] == "sighup"

        assert (await request("POST", f"{base}/-/reload"))[0] == 401  # http.token guards it
        status, body = await request("POST", f"{base}/-/reload", TOKEN)
        assert status == 500 and isinstance(body, dict)
        assert body["status"] == "error" and body["errors"] == expected
        _, text = await request("GET", f"{base}/metrics")
        assert metric(str(text), "notifier_config_last_reload_successful") == 0
        assert metric(str(text), "notifier_config_reloads_total", outcome="failure") == 2

        job = await sim.create("parse_v2")  # the running configuration still delivers
        await receiver.wait_for(lambda: receiver.transitions(job) == [(job, None, "PENDING")])

        config.write_text(good)
        status, body = await request("POST", f"{base}/-/reload", TOKEN)
        assert status == 200 and body == {"status": "success", "applied": [], "needs_restart": []}
        _, text = await request("GET", f"{base}/metrics")
        assert metric(str(text), "notifier_config_last_reload_successful") == 1
        stamp = metric(str(text), "notifier_config_last_reload_success_timestamp_seconds")
        assert stamp > 0
        assert (await request("GET", f"{base}/-/reload", TOKEN))[0] == 405
    finally:
        code = await daemon.terminate()
    assert code == 0
    assert "Traceback" not in daemon.log_text()


async def test_a_rotated_secret_file_signs_after_sighup(
    sim: Sim, receiver: Receiver, tmp_path: Path
) -> None:
    """Replace the file a channel's secret_file names, send SIGHUP: the next request is
    signed with the new secret (verified by `standardwebhooks`), which no log line shows."""
    new_secret = "whsec_" + base64.b64encode(b"rotated-secret-of-32-bytes-long!").decode()
    secret_file = tmp_path / "webhook_secret"
    secret_file.write_text(WEBHOOK_SECRET + "\n")
    config = write_config(
        tmp_path / "config.yaml",
        sim.url,
        receiver.url,
        channels={"hook": hook(receiver.url, secret_file)},
    )
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        await wait_baseline(tmp_path / "notifier.db")
        before = await sim.create("extract_v2")
        await receiver.wait_for(lambda: len(receiver.transitions(before)) == 1)
        secret_file.write_text(new_secret + "\n")
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGHUP)
        reloaded = await logged(daemon, "config_reloaded")
        assert reloaded["applied"] == ["channels.hook"] and reloaded["needs_restart"] == []
        receiver.secret = new_secret  # the receiver now verifies with the new one only
        after = await sim.create("parse_v2")
        await receiver.wait_for(lambda: len(receiver.transitions(after)) == 1)
    finally:
        assert await daemon.terminate() == 0
    assert receiver.bad == []
    log = daemon.log_text()
    assert new_secret.removeprefix("whsec_") not in log and new_secret not in log


class TestPlan:
    """core.reloading: which changes a running daemon takes (pure)."""

    def test_live_and_restart_only_keys(self) -> None:
        """Routing and delivery apply; the store, HTTP, polling and sources need a restart."""
        old = {
            "channels": {"a": {"url": "x"}, "b": {"url": "y"}},
            "rules": [{"name": "r"}],
            "polling": {"interval": 30, "lookback": 3},
            "store": {"path": "a.db"},
            "sources": [{"type": "extract_v2"}],
            "log": {"level": "info"},
        }
        new = {
            "channels": {"a": {"url": "z"}, "c": {"url": "w"}},
            "rules": [{"name": "r"}],
            "polling": {"interval": 10, "lookback": 3},
            "store": {"path": "b.db"},
            "sources": [{"type": "parse_v2"}],
            "log": {"level": "debug"},
        }
        plan = plan_reload(old, new)
        assert plan.applied == ("channels.a", "channels.b", "channels.c", "log.level")
        assert plan.needs_restart == ("polling.interval", "store.path", "sources")
        assert plan.sections() == {"channels", "log"} and plan.changed

    def test_unknown_section_needs_a_restart(self) -> None:
        """A section added later is restart-only until it says otherwise."""
        assert plan_reload({"watchdog": {"a": 1}}, {"watchdog": {"a": 2}}) == ReloadPlan(
            (), ("watchdog.a",)
        )

    def test_a_changed_digest_needs_a_restart_while_its_routing_applies(self) -> None:
        """Rules route live, but digest schedules are set up at start: a reload says so."""
        old = {"rules": [{"name": "r", "digest": None}]}
        new = {"rules": [{"name": "r", "digest": {"schedule": "0 9 * * *"}}]}
        plan = plan_reload(old, new)
        assert plan.applied == ("rules",) and plan.needs_restart == ("rules[].digest",)
        more = {"rules": [*new["rules"], {"name": "s", "digest": None}]}
        assert plan_reload(new, more).needs_restart == ()  # a rule without a digest added

    def test_nothing_changed(self) -> None:
        same = {"rules": [], "http": {"listen": "127.0.0.1:8080"}}
        assert not plan_reload(same, dict(same)).changed
