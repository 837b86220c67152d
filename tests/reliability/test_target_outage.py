"""The receiver is down for 30 s, then back: everything arrives, in detection order per job."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.harness import DaemonProcess, Receiver, Sim, wait_baseline, write_config

pytestmark = pytest.mark.timeout(180)
OUTAGE_SECONDS = 30


async def test_thirty_second_outage(sim: Sim, tmp_path: Path) -> None:
    """Transitions during the outage wait in the outbox and arrive in order afterwards."""
    receiver = Receiver()
    await receiver.start()
    url = receiver.url
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    config = write_config(
        tmp_path / "config.yaml",
        sim.url,
        url,
        delivery={"backoff_base": "200ms", "backoff_max": "2s", "max_attempts": 1000},
    )
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    await wait_baseline(tmp_path / "notifier.db")
    await receiver.stop()  # the target goes away
    loop = asyncio.get_running_loop()
    down_since = loop.time()
    jobs = [await sim.create("extract_v2") for _ in range(10)]
    for step in ("RUNNING", "THROTTLED", "RUNNING", "COMPLETED"):
        await asyncio.sleep(1.0)
        for job in jobs:
            await sim.set_status(job, step)
    await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (loop.time() - down_since)))
    back = await Receiver().start(port)  # the target comes back on the same port
    try:
        await back.wait_for(
            lambda: sum(1 for t in back.transitions() if t[2] == "COMPLETED") == 10, timeout=60
        )
    finally:
        assert await daemon.terminate() == 0
        await back.stop()
    for job in jobs:
        assert back.transitions(job) == [
            (job, None, "PENDING"),
            (job, "PENDING", "RUNNING"),
            (job, "RUNNING", "THROTTLED"),
            (job, "THROTTLED", "RUNNING"),
            (job, "RUNNING", "COMPLETED"),
        ]
    assert back.bad == []
