"""Native webhooks as hints, through the real daemon: the simulator pushes LlamaCloud's own
webhooks (signed with LC-Signature) to `native_webhooks.path`; polling every 30 s stays the
guarantee. Forged, broken and oversized requests are refused and create nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from notifier.simulator import PushOptions, start_simulator
from tests.harness import (
    API_KEY,
    DaemonProcess,
    Receiver,
    Sim,
    daemon_env,
    free_port,
    wait_baseline,
    write_config,
)

pytestmark = pytest.mark.timeout(120)
LC_SECRET = "lc-push-secret-1234"
LC_TOKEN = "lc-push-token-5678"


def signed(body: bytes, secret: str = LC_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"LC-Signature": f"sha256={digest}", "Content-Type": "application/json"}


class Pushed:
    def __init__(self, sim: Sim, hook: str, daemon: DaemonProcess, port: int) -> None:
        self.sim, self.hook, self.daemon, self.port = sim, hook, daemon, port


async def start(
    tmp_path: Path, receiver: Receiver, native: dict[str, str], drop: float = 0.0
) -> AsyncIterator[Pushed]:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hooks/llamacloud"
    runner, url, _ = await start_simulator(
        api_key=API_KEY, push=PushOptions(url=hook, secret=LC_SECRET, drop=drop, seed=3)
    )
    config = write_config(
        tmp_path / "config.yaml",
        url,
        receiver.url,
        polling={"interval": "30s"},
        http={"enabled": True, "listen": f"127.0.0.1:{port}"},
        native_webhooks=native,
    )
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        async with aiohttp.ClientSession() as session:
            await wait_baseline(tmp_path / "notifier.db")
            yield Pushed(Sim(url, session), hook, daemon, port)
    finally:
        assert await daemon.terminate() == 0
        await runner.cleanup()


@pytest.fixture
async def pushed(tmp_path: Path, receiver: Receiver) -> AsyncIterator[Pushed]:
    async for rig in start(tmp_path, receiver, {"secret": LC_SECRET}):
        yield rig


async def test_pushed_transitions_arrive_in_well_under_a_polling_interval(
    pushed: Pushed, receiver: Receiver
) -> None:
    """Polling is every 30 s; each pushed transition reaches the receiver within 1.5 s, once,
    marked as found by push (a hint's re-read of the job from the API)."""
    job = await pushed.sim.create("parse_v2")
    started = time.monotonic()
    await receiver.wait_for(lambda: len(receiver.transitions(job)) == 1, timeout=5)
    for status in ("RUNNING", "COMPLETED"):
        started = time.monotonic()
        await pushed.sim.set_status(job, status)
        before = len(receiver.transitions(job))

        def moved(n: int = before) -> bool:
            return len(receiver.transitions(job)) == n + 1

        await receiver.wait_for(moved, timeout=5)
        assert time.monotonic() - started < 1.5
    assert receiver.transitions(job) == [
        (job, None, "PENDING"),
        (job, "PENDING", "RUNNING"),
        (job, "RUNNING", "COMPLETED"),
    ]
    assert {r.payload["data"]["detected_by"] for r in receiver.received} == {"push"}
    await asyncio.sleep(1)
    assert len(receiver.transitions(job)) == 3  # duplicates and replays change nothing


async def test_forged_broken_and_oversized_hints_create_nothing(
    pushed: Pushed, receiver: Receiver
) -> None:
    """Bad signature 401, not JSON 400, over 1 MiB 413, an unknown or replayed job 202 but no
    event; each is counted. `http.token` does not apply to the hook path."""
    job = await pushed.sim.create("extract_v2", "COMPLETED")
    await receiver.wait_for(lambda: len(receiver.transitions(job)) == 1, timeout=5)
    forged = json.dumps({"job_id": job, "event_type": "extract.error"}).encode()
    unknown = json.dumps({"job_id": "ext-forged-0000", "event_type": "extract.success"}).encode()
    async with aiohttp.ClientSession() as http:

        async def post(body: bytes, headers: dict[str, str]) -> int:
            async with http.post(pushed.hook, data=body, headers=headers) as answer:
                return answer.status

        assert await post(forged, signed(forged, "wrong-secret")) == 401
        assert await post(forged, {"Content-Type": "application/json"}) == 401
        assert await post(b"not json", signed(b"not json")) == 400
        big = b'{"x": "' + b"a" * (1 << 20) + b'"}'
        assert await post(big, signed(big)) == 413
        # Correctly signed, but the API says nothing changed (a replay) or knows no such job.
        for _ in range(3):
            assert await post(forged, signed(forged)) == 202
        assert await post(unknown, signed(unknown)) == 202
        await asyncio.sleep(1.5)
        async with http.get(f"http://127.0.0.1:{pushed.port}/metrics") as answer:
            metrics = await answer.text()
    assert receiver.transitions(job) == [(job, None, "COMPLETED")]
    assert receiver.transitions("ext-forged-0000") == []
    assert 'notifier_native_webhook_requests_total{outcome="rejected"} 4.0' in metrics
    assert 'notifier_native_webhook_requests_total{outcome="accepted"}' in metrics


async def test_with_secret_and_token_both_must_hold(tmp_path: Path, receiver: Receiver) -> None:
    """The token alone, or the signature alone, is 401; both together, 202."""
    async for rig in start(tmp_path, receiver, {"secret": LC_SECRET, "token": LC_TOKEN}):
        body = json.dumps({"job_id": "ext-x", "event_type": "extract.success"}).encode()
        bearer = {"Authorization": f"bearer {LC_TOKEN}"}
        async with aiohttp.ClientSession() as http:
            for headers, expected in (
                (bearer, 401),
                (signed(body), 401),
                ({**signed(body), **bearer}, 202),
            ):
                async with http.post(rig.hook, data=body, headers=headers) as answer:
                    assert answer.status == expected


async def test_without_a_secret_or_token_the_path_is_off(
    sim: Sim, receiver: Receiver, tmp_path: Path
) -> None:
    """No native_webhooks secret or token: 404, and `check` says it is off."""
    port = free_port()
    config = write_config(
        tmp_path / "config.yaml",
        sim.url,
        receiver.url,
        http={"enabled": True, "listen": f"127.0.0.1:{port}"},
    )
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        await wait_baseline(tmp_path / "notifier.db")
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/hooks/llamacloud"
            async with http.post(url, data=b"{}", headers=signed(b"{}")) as answer:
                assert answer.status == 404
    finally:
        assert await daemon.terminate() == 0
    check = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier",
        "check",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        env=daemon_env(),
    )
    out, _ = await check.communicate()
    assert check.returncode == 0
    assert "native webhooks  off (set native_webhooks.secret" in out.decode()
