"""SIGKILL at random moments of a burst (mid-cycle, mid-delivery), twenty times: no event is
lost, and every duplicate carries the webhook-id of its first delivery."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.harness import DaemonProcess, Receiver, Sim, wait_baseline, write_config

pytestmark = pytest.mark.timeout(240)
ROUNDS = 20


async def test_twenty_kills(sim: Sim, receiver: Receiver, tmp_path: Path) -> None:
    """Kill, restart, repeat; then count what arrived against what happened."""
    rng = random.Random(2026)
    receiver.delay = 0.02  # deliveries are in flight when the kill lands
    config = write_config(
        tmp_path / "config.yaml", sim.url, receiver.url, delivery={"concurrency": 4}
    )
    log = tmp_path / "daemon.log"
    daemon = await DaemonProcess(config, log).start()
    await wait_baseline(tmp_path / "notifier.db")
    expected: set[tuple[str, str | None, str]] = set()
    jobs: list[str] = []
    for _ in range(ROUNDS):
        for _ in range(5):
            job = await sim.create("extract_v2" if rng.random() < 0.6 else "parse_v2")
            jobs.append(job)
            expected.add((job, None, "PENDING"))
        # Move on only jobs whose PENDING was observed (delivered), so the expected chain is
        # exactly what the daemon can see.
        seen = {t[0] for t in receiver.transitions() if t[2] == "PENDING"}
        movable = [j for j in jobs if j in seen and (j, "PENDING", "RUNNING") not in expected]
        for job in rng.sample(movable, min(len(movable), 5)):
            await sim.set_status(job, "RUNNING")
            expected.add((job, "PENDING", "RUNNING"))
        await asyncio.sleep(rng.uniform(0.05, 0.6))
        await daemon.kill()
        daemon = await DaemonProcess(config, log).start()
    try:
        await asyncio.sleep(1)
        for job in jobs:  # the last round's jobs move too, once seen
            if (job, "PENDING", "RUNNING") not in expected:

                def observed(j: str = job) -> bool:
                    return j in {t[0] for t in receiver.transitions()}

                await receiver.wait_for(observed)
                await sim.set_status(job, "RUNNING")
                expected.add((job, "PENDING", "RUNNING"))
        await receiver.wait_for(lambda: expected <= set(receiver.transitions()), timeout=60)
    finally:
        assert await daemon.terminate() == 0
    got = receiver.transitions()
    assert set(got) == expected, "lost or invented transitions"
    ids: dict[tuple[str, str | None, str], set[str]] = {}
    for item, transition in zip(receiver.received, got, strict=True):
        ids.setdefault(transition, set()).add(item.webhook_id)
    assert all(len(v) == 1 for v in ids.values()), "a duplicate came with a new webhook-id"
    duplicates = len(got) - len(set(got))
    print(
        f"rounds={ROUNDS} transitions={len(expected)} delivered={len(got)} duplicates={duplicates}"
    )
    assert "Traceback" not in log.read_text()
