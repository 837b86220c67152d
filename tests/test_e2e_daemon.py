"""The real daemon (`notifier run`, a subprocess) against the simulator and a verifying receiver."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from notifier.simulator import start_simulator
from tests.harness import (
    API_KEY,
    WEBHOOK_SECRET,
    DaemonProcess,
    Receiver,
    Sim,
    baseline_done,
    drive,
    eventually,
    free_port,
    serve,
    wait_baseline,
    write_config,
)

pytestmark = pytest.mark.timeout(120)


async def test_transitions_arrive_signed_exactly_once(
    sim: Sim, receiver: Receiver, tmp_path: Path
) -> None:
    """Extract and parse jobs through every status arrive once each, verified independently."""
    old_done = await sim.create("extract_v2", "COMPLETED")
    old_running = await sim.create("parse_v2", "RUNNING")
    config = write_config(tmp_path / "config.yaml", sim.url, receiver.url)
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        await wait_baseline(tmp_path / "notifier.db")

        ext_ok = await sim.create("extract_v2")
        ext_fail = await sim.create("extract_v2")
        ext_cancel = await sim.create("extract_v2")
        parse_ok = await sim.create("parse_v2")
        parse_fail = await sim.create("parse_v2")
        parse_cancel = await sim.create("parse_v2")
        for job in (ext_ok, ext_fail, ext_cancel, parse_ok, parse_fail, parse_cancel):

            def first_seen(j: str = job) -> bool:
                return len(receiver.transitions(j)) == 1

            await receiver.wait_for(first_seen)

        await drive(sim, receiver, ext_ok, ["RUNNING", "THROTTLED", "RUNNING", "COMPLETED"])
        await drive(sim, receiver, ext_fail, ["RUNNING", "FAILED"])
        await drive(sim, receiver, ext_cancel, ["CANCELLED"])
        await drive(sim, receiver, parse_ok, ["RUNNING", "COMPLETED"])
        await drive(sim, receiver, parse_fail, ["RUNNING", "FAILED"])
        await drive(sim, receiver, parse_cancel, ["CANCELLED"])
        await drive(sim, receiver, old_running, ["COMPLETED"])
        await asyncio.sleep(1.0)  # several more cycles: nothing else may arrive
    finally:
        code = await daemon.terminate()
    assert code == 0

    assert receiver.bad == []
    assert receiver.transitions(old_done) == []
    assert receiver.transitions(old_running) == [(old_running, "RUNNING", "COMPLETED")]
    assert receiver.transitions(ext_ok) == [
        (ext_ok, None, "PENDING"),
        (ext_ok, "PENDING", "RUNNING"),
        (ext_ok, "RUNNING", "THROTTLED"),
        (ext_ok, "THROTTLED", "RUNNING"),
        (ext_ok, "RUNNING", "COMPLETED"),
    ]
    for job in (ext_fail, parse_fail):
        assert receiver.transitions(job) == [
            (job, None, "PENDING"),
            (job, "PENDING", "RUNNING"),
            (job, "RUNNING", "FAILED"),
        ]
    for job in (ext_cancel, parse_cancel):
        assert receiver.transitions(job) == [(job, None, "PENDING"), (job, "PENDING", "CANCELLED")]
    assert receiver.transitions(parse_ok)[-1] == (parse_ok, "RUNNING", "COMPLETED")
    assert len(receiver.received) == 5 + 3 + 2 + 3 + 3 + 2 + 1
    ids = [r.webhook_id for r in receiver.received]
    assert len(set(ids)) == len(ids)
    assert all(r.payload["id"] == r.webhook_id for r in receiver.received)

    failed = next(
        r.payload
        for r in receiver.received
        if r.payload["data"]["job_id"] == ext_fail and r.payload["data"]["to_status"] == "FAILED"
    )
    assert failed["type"] == "job.status_changed"
    assert failed["data"]["llamacloud_event"] == "extract.error"
    assert failed["data"]["phase"] == "failed"
    assert failed["data"]["error_message"] == "parser crashed"
    assert failed["data"]["rule"] == "everything"
    assert failed["data"]["job"]["id"] == ext_fail
    parse_failed = next(
        r.payload
        for r in receiver.received
        if r.payload["data"]["job_id"] == parse_fail and r.payload["data"]["to_status"] == "FAILED"
    )
    assert parse_failed["data"]["llamacloud_event"] == "parse.error"

    log = daemon.log_text()
    assert (
        API_KEY not in log
        and WEBHOOK_SECRET not in log
        and WEBHOOK_SECRET.removeprefix("whsec_") not in log
    )
    assert "Traceback" not in log


async def test_sigkill_during_deliveries_loses_nothing(
    sim: Sim, receiver: Receiver, tmp_path: Path
) -> None:
    """Killed mid-burst and restarted: all transitions arrive; a duplicate keeps its webhook-id."""
    receiver.delay = 0.05
    config = write_config(
        tmp_path / "config.yaml", sim.url, receiver.url, delivery={"concurrency": 2}
    )
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    await wait_baseline(tmp_path / "notifier.db")
    jobs = [await sim.create("extract_v2" if i % 2 else "parse_v2") for i in range(40)]
    await receiver.wait_for(lambda: len(receiver.received) >= 5)
    await daemon.kill()
    for job in jobs:
        await sim.set_status(job, "RUNNING")
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    await asyncio.sleep(0.5)
    await daemon.kill()
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        want = {(job, None, "PENDING") for job in jobs} | {
            (job, "PENDING", "RUNNING") for job in jobs
        }
        await receiver.wait_for(lambda: want <= set(receiver.transitions()), timeout=60)
    finally:
        assert await daemon.terminate() == 0
    assert set(receiver.transitions()) == want
    ids_by_transition: dict[tuple[str, str | None, str], set[str]] = {}
    for item, transition in zip(receiver.received, receiver.transitions(), strict=True):
        ids_by_transition.setdefault(transition, set()).add(item.webhook_id)
    assert all(len(ids) == 1 for ids in ids_by_transition.values())
    for job in jobs:  # per job, detection order holds even across the crashes
        first_seen = [t[2] for t in dict.fromkeys(receiver.transitions(job))]
        assert first_seen == ["PENDING", "RUNNING"]


async def test_all_four_sources(sim: Sim, receiver: Receiver, tmp_path: Path) -> None:
    """v1 jobs and runs travel their own vocabularies beside v2 jobs, each transition once."""
    agent = "00000000-0000-0000-0000-0000000000aa"
    sources = [
        {"type": "extract_v2"},
        {"type": "parse_v2"},
        {"type": "extraction_v1", "extraction_agent_ids": [agent]},
        {"type": "extract_runs_v1", "extraction_agent_ids": [agent]},
    ]
    config = write_config(tmp_path / "config.yaml", sim.url, receiver.url, sources=sources)
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    names = ("extract_v2", "parse_v2", "extraction_v1", "extract_runs_v1")
    try:

        async def ready() -> bool:
            return baseline_done(tmp_path / "notifier.db", names)

        await eventually(ready, timeout=20)
        v1 = {
            end: await sim.create("extraction_v1", extraction_agent_id=agent)
            for end in ("SUCCESS", "ERROR", "PARTIAL_SUCCESS", "CANCELLED")
        }
        runs = {
            end: await sim.create("extract_runs_v1", "CREATED", extraction_agent_id=agent)
            for end in ("SUCCESS", "ERROR")
        }
        ext = await sim.create("extract_v2")
        for job in [*v1.values(), *runs.values(), ext]:

            def first_seen(j: str = job) -> bool:
                return len(receiver.transitions(j)) == 1

            await receiver.wait_for(first_seen)
        for end, job in v1.items():
            await drive(sim, receiver, job, [end])
        for end, job in runs.items():
            await drive(sim, receiver, job, ["PENDING", end])
        await drive(sim, receiver, ext, ["RUNNING", "COMPLETED"])
        await asyncio.sleep(1.0)
    finally:
        assert await daemon.terminate() == 0
    for end, job in v1.items():
        assert receiver.transitions(job) == [(job, None, "PENDING"), (job, "PENDING", end)]
    for end, job in runs.items():
        assert receiver.transitions(job) == [
            (job, None, "CREATED"),
            (job, "CREATED", "PENDING"),
            (job, "PENDING", end),
        ]
    assert receiver.transitions(ext) == [
        (ext, None, "PENDING"),
        (ext, "PENDING", "RUNNING"),
        (ext, "RUNNING", "COMPLETED"),
    ]
    assert len(receiver.received) == 4 * 2 + 2 * 3 + 3 and receiver.bad == []
    by_status = {
        r.payload["data"]["to_status"]: r.payload["data"]
        for r in receiver.received
        if r.payload["data"]["source"] == "extraction_v1"
    }
    assert by_status["PARTIAL_SUCCESS"]["phase"] == "partial"
    assert by_status["PARTIAL_SUCCESS"]["llamacloud_event"] == "extract.partial_success"
    assert by_status["ERROR"]["llamacloud_event"] == "extract.error"
    # v1 jobs have no top-level times: the nested file's (the simulator's file never changes).
    error = by_status["ERROR"]
    assert error["job_updated_at"] == error["job_created_at"] == error["job"]["file"]["created_at"]
    assert by_status["ERROR"]["job"]["extraction_agent"]["id"] == agent


async def test_one_daemon_per_store(sim: Sim, receiver: Receiver, tmp_path: Path) -> None:
    """A second daemon on the same store is refused; a SIGKILLed one leaves no lock behind."""
    config = write_config(tmp_path / "config.yaml", sim.url, receiver.url)
    first = await DaemonProcess(config, tmp_path / "first.log").start()
    await wait_baseline(tmp_path / "notifier.db")
    second = await DaemonProcess(config, tmp_path / "second.log").start()
    assert second.process is not None
    assert await asyncio.wait_for(second.process.wait(), 20) == 1
    message = second.log_text()
    assert "already using the store" in message and "Traceback" not in message
    assert first.process is not None and first.process.returncode is None
    await first.kill()
    third = await DaemonProcess(config, tmp_path / "third.log").start()
    job = await sim.create("extract_v2")
    await receiver.wait_for(lambda: receiver.transitions(job) == [(job, None, "PENDING")])
    assert await third.terminate() == 0


async def test_sigterm_during_a_delivery_burst(
    sim: Sim, receiver: Receiver, tmp_path: Path
) -> None:
    """SIGTERM mid-burst: exit 0 within the grace, nothing lost, the rest sent after restart."""
    receiver.delay = 0.3
    config = write_config(
        tmp_path / "config.yaml",
        sim.url,
        receiver.url,
        delivery={"concurrency": 2, "shutdown_grace": "2s"},
        polling={"interval": "200ms", "lookback": "1d", "overlap": "1m", "initial_sync": "notify"},
    )
    jobs = [await sim.create("extract_v2") for _ in range(30)]
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    await receiver.wait_for(lambda: len(receiver.received) >= 4)
    assert daemon.process is not None
    started = asyncio.get_running_loop().time()
    assert await daemon.terminate() == 0
    assert asyncio.get_running_loop().time() - started < 10
    first_run = len(receiver.received)
    assert first_run < len(jobs)  # the burst was really interrupted
    with sqlite3.connect(tmp_path / "notifier.db") as conn:
        pending = conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
    assert pending + first_run >= len(jobs)
    receiver.delay = 0
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        await receiver.wait_for(
            lambda: {t[0] for t in receiver.transitions()} == set(jobs), timeout=30
        )
    finally:
        assert await daemon.terminate() == 0
    assert sorted(set(receiver.transitions())) == sorted((job, None, "PENDING") for job in jobs)
    assert "Traceback" not in daemon.log_text()


async def test_daemon_groups_failures_into_one_apprise_message(sim: Sim, tmp_path: Path) -> None:
    """Through the real daemon: 20 jobs failing together reach apprise as one message."""
    posts: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        posts.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/alerts", handle)
    runner, base = await serve(app)
    config = write_config(
        tmp_path / "config.yaml",
        sim.url,
        "http://127.0.0.1:9/unused",
        channels={
            "alerts": {"type": "apprise", "urls": [f"json://{base.removeprefix('http://')}/alerts"]}
        },
        rules=[
            {
                "name": "failures",
                "when": {"phase": ["failed"]},
                "notify": ["alerts"],
                "group_by": ["source"],
                "group_wait": "1s",
                "repeat_interval": "1h",
            }
        ],
    )
    jobs = [await sim.create("extract_v2", "RUNNING") for _ in range(20)]
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        await wait_baseline(tmp_path / "notifier.db")
        for job in jobs:
            await sim.set_status(job, "FAILED", error_message="quota exceeded")
        await eventually(lambda: asyncio.sleep(0, result=len(posts) >= 1), timeout=15)
        await asyncio.sleep(1.5)  # nothing else may follow
    finally:
        assert await daemon.terminate() == 0
        await runner.cleanup()
    (post,) = posts
    assert post["title"] == "20 LlamaCloud job events (failures)"
    assert post["message"].count("status: RUNNING -> FAILED (failed)") == 10
    assert "... and 10 more" in post["message"]


async def test_the_sweep_finds_what_cycles_cannot_and_readiness_holds(
    sim: Sim, receiver: Receiver, tmp_path: Path
) -> None:
    """A finished job re-run to another finished status between two cycles, and a job that
    turns up late already finished, reach the receiver through the running daemon's sweep
    (a 3 s pass), once each; `/readyz` stays 200 while the sweep runs."""
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    rerun = await sim.create("extract_v2", "COMPLETED", created_at=two_hours_ago)
    port = free_port()
    config = write_config(
        tmp_path / "config.yaml",
        sim.url,
        receiver.url,
        polling={"sweep_every": "3s"},
        http={"enabled": True, "listen": f"127.0.0.1:{port}"},
    )
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    statuses: list[int] = []
    try:
        await wait_baseline(tmp_path / "notifier.db")
        await sim.set_status(rerun, "FAILED")
        late = await sim.create(
            "extract_v2",
            "COMPLETED",
            created_at=(datetime.now(UTC) - timedelta(hours=3)).isoformat(),
        )

        def both() -> bool:
            return bool(receiver.transitions(rerun)) and bool(receiver.transitions(late))

        async with aiohttp.ClientSession() as http:

            async def watch() -> None:
                while True:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as answer:
                        statuses.append(answer.status)
                    await asyncio.sleep(0.1)

            watcher = asyncio.create_task(watch())
            try:
                await receiver.wait_for(both, timeout=30)
                await asyncio.sleep(4)  # another whole pass: nothing may arrive twice
            finally:
                watcher.cancel()
    finally:
        code = await daemon.terminate()
    assert code == 0
    assert receiver.transitions(rerun) == [(rerun, "COMPLETED", "FAILED")]
    assert receiver.transitions(late) == [(late, None, "COMPLETED")]
    assert statuses and set(statuses) == {200}
    assert '"sweep_completed"' in daemon.log_text()


async def test_adaptive_polling_fast_while_running_slow_while_idle(
    receiver: Receiver, tmp_path: Path
) -> None:
    """active_interval 200 ms, interval 3 s: an idle project is listed about once in 3 s; a
    running job's changes arrive within a second."""
    runner, url, simulator = await start_simulator(api_key=API_KEY)
    config = write_config(
        tmp_path / "config.yaml",
        url,
        receiver.url,
        polling={"interval": "3s", "active_interval": "200ms"},
        sources=[{"type": "parse_v2"}],
    )
    daemon = await DaemonProcess(config, tmp_path / "daemon.log").start()
    try:
        async with aiohttp.ClientSession() as session:
            sim = Sim(url, session)

            async def parse_baseline() -> bool:
                return baseline_done(tmp_path / "notifier.db", ("parse_v2",))

            await eventually(parse_baseline)
            await asyncio.sleep(1)
            simulator.requests.clear()
            await asyncio.sleep(6)
            idle = len(simulator.requests)
            job = await sim.create("parse_v2", "RUNNING")
            await receiver.wait_for(lambda: len(receiver.transitions(job)) == 1, timeout=5)
            await asyncio.sleep(1)  # the scope is busy now: cycles every 200 ms
            started = asyncio.get_running_loop().time()
            await sim.set_status(job, "COMPLETED")
            await receiver.wait_for(lambda: len(receiver.transitions(job)) == 2, timeout=5)
            took = asyncio.get_running_loop().time() - started
    finally:
        assert await daemon.terminate() == 0
        await runner.cleanup()
    assert 1 <= idle <= 3, idle  # one discovery request per 3 s cycle
    assert took < 1.0
