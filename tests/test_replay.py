"""`notifier replay`: recorded deliveries sent again with their original ids, chosen by time,
rule, channel and job; `--dry-run` changes nothing. Real processes, a real store, a real
receiver verifying every signature."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from notifier.simulator import start_simulator
from tests.harness import API_KEY, REPO, Receiver, Sim, daemon_env, write_config


@dataclass
class Setup:
    config: Path
    receiver: Receiver
    ids: dict[str, str]  # job id -> status it reached


async def notifier(config: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier",
        *args,
        "--config",
        str(config),
        env=daemon_env(),
        cwd=str(REPO),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def delivered(tmp_path: Path) -> AsyncIterator[Setup]:
    """Two jobs (one FAILED, one COMPLETED) announced by `notifier once` through two rules."""
    receiver = await Receiver().start()
    sim_runner, sim_url, _ = await start_simulator(api_key=API_KEY, rate=0.0)
    config = write_config(
        tmp_path / "config.yaml",
        sim_url,
        receiver.url,
        polling={"initial_sync": "notify"},
        rules=[
            {"name": "failures", "when": {"status": ["FAILED"]}, "notify": ["hook"]},
            {"name": "done", "when": {"status": ["COMPLETED"]}, "notify": ["hook"]},
        ],
    )
    async with aiohttp.ClientSession() as session:
        sim = Sim(sim_url, session)
        failed = await sim.create("extract_v2", status="FAILED", error_message="boom")
        completed = await sim.create("parse_v2", status="COMPLETED")
    code, _, err = await notifier(config, "once")
    assert code == 0, err
    await receiver.wait_for(lambda: len(receiver.received) == 2)
    try:
        yield Setup(config, receiver, {failed: "FAILED", completed: "COMPLETED"})
    finally:
        await receiver.stop()
        await sim_runner.cleanup()


def states(config: Path) -> list[str]:
    with sqlite3.connect(config.parent / "notifier.db") as conn:
        return [row[0] for row in conn.execute("SELECT state FROM outbox ORDER BY id")]


async def test_replay_resends_with_the_original_ids(delivered: Setup) -> None:
    """Every delivery of the window goes again; the receiver sees the same webhook-ids."""
    first = sorted(item.webhook_id for item in delivered.receiver.received)
    code, out, err = await notifier(delivered.config, "replay", "--since", "1h")
    assert code == 0, err
    assert "queued 2 deliveries for replay" in out
    assert states(delivered.config) == ["pending", "pending"]
    code, _, err = await notifier(delivered.config, "once")
    assert code == 0, err
    await delivered.receiver.wait_for(lambda: len(delivered.receiver.received) == 4)
    again = sorted(item.webhook_id for item in delivered.receiver.received[2:])
    assert again == first and not delivered.receiver.bad
    assert states(delivered.config) == ["delivered", "delivered"]


async def test_dry_run_lists_and_changes_nothing(delivered: Setup) -> None:
    code, out, err = await notifier(
        delivered.config, "replay", "--since", "1h", "--dry-run", "--json"
    )
    assert code == 0, err
    listed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert {row["job_id"] for row in listed} == set(delivered.ids)
    assert {row["state"] for row in listed} == {"delivered"}
    assert "would replay 2 deliveries" in out
    assert states(delivered.config) == ["delivered", "delivered"]


async def test_filters_narrow_by_rule_job_and_time(delivered: Setup) -> None:
    """`--rule`, `--job` and `--since` each choose; a window after the events is empty."""
    failed = next(job for job, status in delivered.ids.items() if status == "FAILED")
    code, out, _ = await notifier(
        delivered.config, "replay", "--since", "1h", "--rule", "failures", "--dry-run", "--json"
    )
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert code == 0 and [(r["job_id"], r["rule"]) for r in rows] == [(failed, "failures")]
    completed = next(job for job in delivered.ids if job != failed)
    code, out, _ = await notifier(delivered.config, "replay", "--since", "1h", "--job", completed)
    assert code == 0 and "queued 1 delivery" in out
    assert sorted(states(delivered.config)) == ["delivered", "pending"]
    code, out, _ = await notifier(
        delivered.config, "replay", "--since", "2999-01-01T00:00:00Z", "--channel", "hook"
    )
    assert code == 1 and "queued 0 deliveries" in out


async def test_unknown_channel_rule_or_since_is_a_usage_error(delivered: Setup) -> None:
    for args, message in (
        (["--channel", "hoook"], "--channel 'hoook': no such channel (configured: hook)"),
        (["--rule", "nope"], "--rule 'nope': no such rule (configured: failures, done)"),
        (["--since", "yesterday-ish"], "--since 'yesterday-ish': expected an ISO time"),
    ):
        since = [] if "--since" in args else ["--since", "1h"]
        code, _, err = await notifier(delivered.config, "replay", *since, *args)
        assert code == 2 and message in err, err
        assert "Traceback" not in err
    assert states(delivered.config) == ["delivered", "delivered"]
