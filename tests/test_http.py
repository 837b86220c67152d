"""The daemon's HTTP server, met the way operators meet it: probes, metrics, API, status page."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.browser import HEADLESS
from tests.harness import (
    API_KEY,
    REPO,
    DaemonProcess,
    Receiver,
    Sim,
    drive,
    free_port,
    wait_baseline,
    write_config,
)

pytestmark = pytest.mark.timeout(120)
TOKEN = "status-page-token-8842"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
async def daemon_with_http(
    sim: Sim, receiver: Receiver, tmp_path: Path
) -> AsyncIterator[tuple[str, DaemonProcess]]:
    port = free_port()
    config = write_config(
        tmp_path / "config.yaml",
        sim.url,
        receiver.url,
        http={"enabled": True, "listen": f"127.0.0.1:{port}", "token": TOKEN},
    )
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    await wait_baseline(tmp_path / "notifier.db")
    yield f"http://127.0.0.1:{port}", daemon
    assert await daemon.terminate() == 0


async def get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as r:
        return r.status, await r.text()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_and_api_reflect_transitions(
    sim: Sim, receiver: Receiver, daemon_with_http: tuple[str, DaemonProcess]
) -> None:
    """Counters and the JSON API agree with what the receiver got; the token guards /api/."""
    base, _ = daemon_with_http
    job = await sim.create("extract_v2")
    await receiver.wait_for(lambda: len(receiver.transitions(job)) == 1)
    await drive(sim, receiver, job, ["RUNNING", "FAILED"])
    await asyncio.sleep(0.5)

    status, text = await get(f"{base}/metrics")
    assert status == 200
    assert metric(text, "notifier_transitions_total", source="extract_v2", status="FAILED") == 1
    assert metric(text, "notifier_transitions_total", source="extract_v2", status="PENDING") == 1
    assert metric(text, "notifier_deliveries_total", channel="hook", outcome="delivered") == 3
    assert metric(text, "notifier_polls_total", source="extract_v2", outcome="ok") >= 3
    assert metric(text, "notifier_api_requests_total", source="extract_v2", code="200") >= 3
    assert metric(text, "notifier_api_requests_total", endpoint="/api/v2/extract", code="200") >= 3
    assert 'notifier_deliveries_total{channel="hook",outcome="dead"} 0.0' in text
    assert metric(text, "notifier_poll_duration_seconds_count", source="parse_v2") >= 3
    assert metric(text, "notifier_detection_delay_seconds_count", source="extract_v2") >= 2
    # Everything delivered: the outbox depth reads 0, not "no data".
    assert 'notifier_outbox_rows{channel="hook",state="pending"} 0.0' in text
    assert 'notifier_outbox_rows{channel="hook",state="dead"} 0.0' in text

    assert (await get(f"{base}/api/events"))[0] == 401
    status, body = await get(f"{base}/api/events?job={job}", TOKEN)
    events = json.loads(body)
    assert [e["data"]["to_status"] for e in events] == ["FAILED", "RUNNING", "PENDING"]
    status, body = await get(f"{base}/api/deliveries?state=delivered", TOKEN)
    assert status == 200 and len(json.loads(body)) == 3
    assert (await get(f"{base}/api/deliveries?state=bogus", TOKEN))[0] == 400
    for since in ("bogus", "99999999999d"):
        assert (await get(f"{base}/api/events?since={since}", TOKEN))[0] == 400
    status, body = await get(f"{base}/api/events?since=1h", TOKEN)
    assert status == 200 and len(json.loads(body)) == 3
    assert (await get(f"{base}/healthz"))[0] == 200  # probes never need the token


async def test_readyz_follows_the_api(
    sim: Sim, daemon_with_http: tuple[str, DaemonProcess]
) -> None:
    """Unready while LlamaCloud does not answer, ready again once it does."""
    base, daemon = daemon_with_http
    assert (await get(f"{base}/readyz"))[0] == 200
    async with aiohttp.ClientSession() as session:
        await session.post(f"{sim.url}/_sim/down")
        for _ in range(100):
            status, body = await get(f"{base}/readyz")
            if status == 503:
                break
            await asyncio.sleep(0.1)
        assert status == 503 and "last success" in body
        await session.post(f"{sim.url}/_sim/up")
        for _ in range(100):
            status, _ = await get(f"{base}/readyz")
            if status == 200:
                break
            await asyncio.sleep(0.1)
        assert status == 200
    assert API_KEY not in daemon.log_text()


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    chromium() is None and not os.environ.get("CI"), reason="chromium not installed"
)
async def test_status_page_in_headless_chromium(
    sim: Sim, receiver: Receiver, tmp_path: Path
) -> None:
    """The page renders sources, transitions and dead deliveries; a screenshot is kept."""
    browser = chromium()
    assert browser is not None, "CI installs Debian's chromium (see .ci/run)"
    port = free_port()
    receiver.fail_next = 10_000  # every delivery fails: dead rows to show
    config = write_config(
        tmp_path / "config.yaml",
        sim.url,
        receiver.url,
        http={"enabled": True, "listen": f"127.0.0.1:{port}"},
        channels={"hook": {"type": "webhook", "url": receiver.url, "max_attempts": 1}},
    )
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        await wait_baseline(tmp_path / "notifier.db")
        job = await sim.create("parse_v2", name="<b>report</b>.pdf")
        await asyncio.sleep(1.5)
        flags = [*HEADLESS, f"--user-data-dir={tmp_path / 'profile'}"]
        url = f"http://127.0.0.1:{port}/"
        dom = await asyncio.to_thread(
            subprocess.run,
            [browser, *flags, "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        await asyncio.to_thread(
            subprocess.run,
            [browser, *flags, f"--screenshot={shot}", "--window-size=1280,900", url],
            capture_output=True,
            timeout=60,
        )
    finally:
        assert await daemon.terminate() == 0
    html = dom.stdout
    assert "llamacloud-notifier: ready" in html
    for expected in (
        "Sources",
        "extract_v2",
        "parse_v2",
        "Recent transitions",
        job,
        "Dead deliveries",
        "HTTP 500",
    ):
        assert expected in html
    assert shot.exists() and shot.stat().st_size > 5_000
