"""Real edges for end-to-end tests: a verifying webhook receiver and the daemon as a process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from standardwebhooks.webhooks import Webhook

API_KEY = "llx-test-key-5a8b1c9d2e7f"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REPO = Path(__file__).resolve().parent.parent


def run_notifier(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m notifier ARGS` as a user runs it (from the repository unless `cwd`), its
    output captured as text; the exit status is the caller's to check."""
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or REPO,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str]:
    """Run `app` on 127.0.0.1 (any free port by default); returns its runner and base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{bound}"


@dataclass
class Received:
    """One verified request: its webhook-id and decoded payload."""

    webhook_id: str
    payload: dict[str, Any]


@dataclass
class Receiver:
    """A loopback webhook target that verifies every signature with `standardwebhooks`.

    `fail_next` makes the next N requests answer 500; `bad` collects unverifiable requests.
    """

    secret: str = WEBHOOK_SECRET
    received: list[Received] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    fail_next: int = 0
    delay: float = 0.0
    url: str = ""
    _runner: web.AppRunner | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def start(self, port: int = 0) -> Receiver:
        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.fail_next > 0:
                self.fail_next -= 1
                return web.Response(status=500)
            try:
                payload = Webhook(self.secret).verify(body, dict(request.headers))
            except Exception as exc:
                self.bad.append(repr(exc))
                return web.Response(status=400)
            async with self._changed:
                self.received.append(Received(request.headers["webhook-id"], payload))
                self._changed.notify_all()
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", handle)
        self._runner, base = await serve(app, port)
        self.url = f"{base}/hook"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def transitions(self, job_id: str | None = None) -> list[tuple[str, str | None, str]]:
        """(job_id, from, to) in arrival order, optionally for one job."""
        out = []
        for item in self.received:
            data = item.payload["data"]
            if job_id is None or data["job_id"] == job_id:
                out.append((data["job_id"], data["from_status"], data["to_status"]))
        return out

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        """Until `predicate()` holds, re-checked on every request; fails after `timeout`."""

        async def check() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(check(), timeout)


def write_config(path: Path, simulator_url: str, receiver_url: str, **extra: Any) -> Path:
    """A daemon config polling the simulator every 200 ms, every transition to the receiver."""
    config: dict[str, Any] = {
        "llamacloud": {
            "base_url": simulator_url,
            "api_key": "${TEST_LLAMA_KEY}",
            "max_requests_per_second": 200,
        },
        "store": {"path": str(path.parent / "notifier.db")},
        "polling": {
            "interval": "200ms",
            "lookback": "1d",
            "overlap": "1m",
            "initial_sync": "baseline",
        },
        "sources": [{"type": "extract_v2"}, {"type": "parse_v2"}],
        "channels": {
            "hook": {"type": "webhook", "url": receiver_url, "secret": "${TEST_WEBHOOK_SECRET}"},
        },
        "rules": [{"name": "everything", "notify": ["hook"]}],
        "delivery": {"backoff_base": "100ms", "backoff_max": "1s"},
        "http": {"enabled": False},
        "log": {"level": "debug", "format": "json"},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def daemon_env() -> dict[str, str]:
    return {
        **os.environ,
        "TEST_LLAMA_KEY": API_KEY,
        "TEST_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class DaemonProcess:
    """`python -m notifier run` as a real child process; its stderr goes to a log file."""

    config: Path
    log_path: Path
    process: asyncio.subprocess.Process | None = None

    async def start(self, command: str = "run") -> DaemonProcess:
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "notifier",
            command,
            "--config",
            str(self.config),
            env=daemon_env(),
            cwd=str(REPO),
            stdout=log,
            stderr=log,
        )
        log.close()
        return self

    async def terminate(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 15.0, every: float = 0.05
) -> None:
    """Poll an async condition until it holds or `timeout` passes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(every)


class Sim:
    """The simulator's control API, as a test drives it."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = url, session

    async def create(self, source: str, status: str = "PENDING", **fields: Any) -> str:
        async with self.session.post(
            f"{self.url}/_sim/jobs", json={"source": source, "status": status, **fields}
        ) as r:
            assert r.status == 201, await r.text()
            return str((await r.json())["id"])

    async def set_status(self, job_id: str, status: str, **fields: Any) -> None:
        async with self.session.post(
            f"{self.url}/_sim/jobs/{job_id}/status", json={"status": status, **fields}
        ) as r:
            assert r.status == 200, await r.text()


def baseline_done(db: Path, names: tuple[str, ...] = ("extract_v2", "parse_v2")) -> bool:
    if not db.exists():
        return False
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute("SELECT name FROM source_state WHERE baseline_done = 1").fetchall()
        except sqlite3.OperationalError:
            return False
    return set(names) <= {r[0] for r in rows}


async def wait_baseline(db: Path) -> None:
    async def check() -> bool:
        return baseline_done(db)

    await eventually(check, timeout=20)


async def drive(sim: Sim, receiver: Receiver, job_id: str, statuses: list[str]) -> None:
    """Move a job step by step, each step only after the receiver got the previous one."""
    for status in statuses:
        before = len(receiver.transitions(job_id))
        extra = {"error_message": "parser crashed"} if status == "FAILED" else {}
        await sim.set_status(job_id, status, **extra)

        def moved(n: int = before) -> bool:
            return len(receiver.transitions(job_id)) > n

        await receiver.wait_for(moved)
        assert receiver.transitions(job_id)[-1][2] == status
