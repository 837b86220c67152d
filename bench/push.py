"""Push: LlamaCloud's own webhooks as hints, through the real daemon, beside polling.

Every case runs the simulator in its own process (`notifier simulate`, pushing signed native
webhooks with `--push-url/--push-secret/--push-drop/--push-duplicates` where the case wants
them), the daemon in another (`python -m notifier run`, `http.listen` on a free loopback port,
`native_webhooks.secret` set where the case wants hints), and, in the bench process, a
loopback webhook receiver that verifies every Standard Webhooks signature and notes when each
delivery arrived. Status changes go through the simulator's control API; a change's latency is
the verified delivery's arrival minus the moment its control call was sent.

1. Detection latency at `polling.interval` 30 s with every parse_v2 job pushed (10 % of the
   pushes sent twice): jobs created PENDING, then RUNNING, then COMPLETED (80 %) or FAILED,
   one change every 0.1-0.3 s, a job changed again only once its previous change arrived.
   Control: the same daemon without native webhooks (polling only), fewer changes spread
   over one interval, one change per job so no two hide behind one poll.
2. Pushes dropped: 100 % (every change must still arrive, by polling, as late as polling
   alone), and 50 % with the source marked `native_webhooks: true`: none may be lost, and
   once the audit's grace (60 s, `audit_tick` every 5 s) has passed, `/metrics`
   (`notifier_native_webhooks_total`) must report as missing exactly the changes whose push
   was dropped (those polling found), as matched or late those a push announced.
3. Forged hints: 1,000 a second for 10 s from a separate process of the bench (aiohttp; 90 %
   correctly signed but naming unknown jobs, 10 % with a bad LC-Signature) at the hook path,
   while the daemon polls every 2 s at the default budget (10 requests a second) and real
   changes trickle in (polling only). From the simulator's request log: the re-reads the
   forged ids caused (requests whose `job_ids` name them), their busiest second, all the
   daemon's requests' busiest second; the cycles' starts (their discovery listings) and
   `notifier_poll_duration_seconds` before and during the flood; the real changes' latency
   before, during and after; events about forged jobs (none allowed). 3b: the same flood
   with polling at 30 s and every parse_v2 job pushed, so the real changes' latency shows
   whether genuine hints wait behind the forged ones (the fast path's figure of part 1).
4. Adaptive polling (`polling.active_interval` 5 s, `polling.interval` 60 s, native webhooks
   off): detection latency while jobs run (a RUNNING job kept in each v2 source), then every
   job finished and the simulator's request log counted over 3 idle minutes, per v2 source
   and by kind (discovery, status listing, `job_ids`, sweep slice).

The polling-bound cases (1's control, 2, 4) run side by side, each with its own simulator and
daemon, so the whole bench takes about 7 minutes; 1's fast path and 3 run alone.
`python -m bench.push` runs everything; `--part 1` (repeatable) selects parts, `--quick` is a
smoke run (fewer changes, a short flood, 1 idle minute), `--record` writes the section "Push"
of docs/benchmarks.md, `--keep DIR` keeps each case's folder (config, daemon log, database).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import multiprocessing
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from bench.scrape import metric
from bench.simproc import SimProcess
from tests.harness import (
    API_KEY,
    DaemonProcess,
    Received,
    Receiver,
    baseline_done,
    free_port,
    write_config,
)

TITLE = "Push"
LC_SECRET = "bench-lc-push-secret-3f9a"
HOOK_PATH = "/hooks/llamacloud"
V2 = ("extract_v2", "parse_v2")
AUDIT_GRACE = 60.0  # notifier.core.audit.NativeAudit.grace
AUDIT_TICK = 5.0  # the daemon's audit_tick


# ---------------------------------------------------------------------------------------------
# The simulator (its own process), the receiver, the daemon


class PushSim(SimProcess):
    """`bench.simproc.SimProcess` with LlamaCloud's own webhooks (`--push-*`) when asked."""

    def __init__(
        self,
        push_url: str | None = None,
        *,
        drop: float = 0.0,
        delay: float = 0.0,
        duplicates: float = 0.0,
        seed: int | None = None,
    ) -> None:
        command = [sys.executable, "-m", "notifier", "simulate", "--port", "0"]
        command += ["--api-key", API_KEY, "--rate", "0"]
        if push_url is not None:
            command += ["--push-url", push_url, "--push-secret", LC_SECRET]
            command += ["--push-drop", f"{drop:g}", "--push-delay", f"{delay:g}"]
            command += ["--push-duplicates", f"{duplicates:g}"]
        if seed is not None:
            command += ["--seed", str(seed)]
        self.command = command
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if " on " not in line:
            self.process.kill()
            raise RuntimeError(f"the simulator did not start: {line!r}")
        self.url = line.split(" on ", 1)[1].split()[0]


@dataclass(frozen=True)
class Push:
    """What the simulator pushes (to the daemon's hook path)."""

    drop: float = 0.0
    duplicates: float = 0.0
    delay: float = 0.0
    seed: int = 7


class Control:
    """The simulator's control API, asynchronously (the receiver shares the event loop)."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = url, session

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(method, self.url + path, json=body) as response:
            text = await response.text()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path}: {response.status} {text[:200]}")
            return json.loads(text or "null")

    async def create(self, source: str, status: str = "PENDING") -> str:
        return str(
            (await self.call("POST", "/_sim/jobs", {"source": source, "status": status}))["id"]
        )

    async def set_status(self, job_id: str, status: str) -> None:
        await self.call("POST", f"/_sim/jobs/{job_id}/status", {"status": status})

    async def requests(self) -> list[dict[str, Any]]:
        found = await self.call("GET", "/_sim/requests")
        assert isinstance(found, list)
        return found

    async def clear_requests(self) -> None:
        await self.call("DELETE", "/_sim/requests")


class Arrivals(list[Received]):
    """The receiver's list of verified deliveries, with the moment each one arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: Received) -> None:
        self.times.append(time.time())
        super().append(item)


@dataclass(frozen=True)
class Arrival:
    at: float
    job_id: str
    from_status: str | None
    to_status: str
    detected_by: str
    webhook_id: str


class Ledger:
    """Deliveries by (job, to_status): the first of each, and how often each came."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        self._read = 0
        self.first: dict[tuple[str, str], Arrival] = {}
        self.copies: Counter[tuple[str, str]] = Counter()
        self.webhook_ids: Counter[str] = Counter()

    def refresh(self) -> None:
        new = zip(self.arrivals[self._read :], self.arrivals.times[self._read :], strict=False)
        for item, at in new:
            data = item.payload["data"]
            arrival = Arrival(
                at,
                str(data["job_id"]),
                data.get("from_status"),
                str(data["to_status"]),
                str(data.get("detected_by")),
                item.webhook_id,
            )
            key = (arrival.job_id, arrival.to_status)
            self.first.setdefault(key, arrival)
            self.copies[key] += 1
            self.webhook_ids[item.webhook_id] += 1
            self._read += 1

    def seen(self, key: tuple[str, str]) -> bool:
        self.refresh()
        return key in self.first

    def all(self) -> list[Arrival]:
        self.refresh()
        return list(self.first.values())


@dataclass
class Change:
    job_id: str
    source: str
    to_status: str
    sent: float
    returned: float = 0.0
    phase: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.job_id, self.to_status)


@dataclass
class Rig:
    """One case's simulator, receiver and daemon."""

    name: str
    folder: Path
    sim: PushSim
    control: Control
    receiver: Receiver
    arrivals: Arrivals
    ledger: Ledger
    daemon: DaemonProcess
    port: int
    session: aiohttp.ClientSession

    @property
    def hook(self) -> str:
        return f"http://127.0.0.1:{self.port}{HOOK_PATH}"

    async def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as response:
            return await response.text()

    async def change(self, job_id: str, source: str, status: str, phase: str = "") -> Change:
        made = Change(job_id, source, status, time.time(), phase=phase)
        await self.control.set_status(job_id, status)
        made.returned = time.time()
        return made

    async def create(self, source: str, phase: str = "") -> Change:
        sent = time.time()
        job_id = await self.control.create(source, "PENDING")
        return Change(job_id, source, "PENDING", sent, time.time(), phase)


@dataclass
class Case:
    """What one case runs: its push, its daemon's settings."""

    name: str
    push: Push | None
    native: bool
    polling: dict[str, str]
    sources: list[dict[str, Any]]
    rate: float = 10.0


async def _baselines(db: Path, names: tuple[str, ...], daemon: DaemonProcess) -> None:
    deadline = time.monotonic() + 90
    while not baseline_done(db, names):
        if daemon.process is not None and daemon.process.returncode is not None:
            raise RuntimeError(f"the daemon exited {daemon.process.returncode}: see its log")
        if time.monotonic() > deadline:
            raise RuntimeError("the daemon's baselines did not complete in 90 s")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def rig(
    case: Case,
    folder: Path,
    before_start: Callable[[Control], Awaitable[None]] | None = None,
) -> AsyncIterator[Rig]:
    """Simulator, receiver and daemon up, baselines done; everything stopped afterwards."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    port = free_port()
    hook = f"http://127.0.0.1:{port}{HOOK_PATH}"
    push = case.push
    if push is None:
        sim = await asyncio.to_thread(PushSim)
    else:
        sim = await asyncio.to_thread(
            PushSim,
            hook,
            drop=push.drop,
            delay=push.delay,
            duplicates=push.duplicates,
            seed=push.seed,
        )
    arrivals = Arrivals()
    receiver = Receiver(received=arrivals)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    try:
        await receiver.start()
        control = Control(sim.url, session)
        if before_start is not None:
            await before_start(control)
        extra: dict[str, Any] = {}
        if case.native:
            extra["native_webhooks"] = {"secret": LC_SECRET, "path": HOOK_PATH}
        config = write_config(
            folder / "config.yaml",
            sim.url,
            receiver.url,
            llamacloud={"max_requests_per_second": case.rate},
            polling=case.polling,
            sources=case.sources,
            http={"enabled": True, "listen": f"127.0.0.1:{port}"},
            log={"level": "info", "format": "json"},
            **extra,
        )
        daemon = await DaemonProcess(config, folder / "daemon.log").start()
        try:
            names = tuple(str(s.get("name") or s["type"]) for s in case.sources)
            await _baselines(folder / "notifier.db", names, daemon)
            yield Rig(
                case.name,
                folder,
                sim,
                control,
                receiver,
                arrivals,
                Ledger(arrivals),
                daemon,
                port,
                session,
            )
        finally:
            assert daemon.process is not None
            if daemon.process.returncode is None:
                code = await daemon.terminate(timeout=30)
            else:
                code = daemon.process.returncode
                tail = "\n    ".join(daemon.log_text().splitlines()[-5:])
                print(f"  {case.name}: the daemon died; its log ends:\n    {tail}", flush=True)
            if code != 0:
                print(f"  {case.name}: the daemon exited {code}", flush=True)
    finally:
        await session.close()
        await receiver.stop()
        await asyncio.to_thread(sim.close)


# ---------------------------------------------------------------------------------------------
# Changes and their deliveries


async def sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.time()))


@dataclass
class _Job:
    job_id: str
    source: str
    steps: list[str]
    last: Change


async def lifecycles(
    r: Rig,
    rng: random.Random,
    *,
    sources: tuple[str, ...],
    spacing: tuple[float, float],
    total: int | None = None,
    until: float | None = None,
    fallback: float = 35.0,
    phase_of: Callable[[float], str] | None = None,
) -> tuple[list[Change], list[_Job]]:
    """Jobs created PENDING, moved to RUNNING, then COMPLETED (80 %) or FAILED; a change
    every `spacing` seconds, a job changed again only once its last change arrived (or after
    `fallback` seconds), until `total` changes are made or `until` passes. Returns the changes
    and the jobs that were not finished."""
    jobs_left = None if total is None else -(-total // 3)
    made: list[Change] = []
    live: list[_Job] = []
    while (total is None or len(made) < total) and (until is None or time.time() < until):
        await asyncio.sleep(rng.uniform(*spacing))
        now = time.time()
        ready = [j for j in live if r.ledger.seen(j.last.key) or now - j.last.sent > fallback]
        can_create = jobs_left is None or jobs_left > 0
        phase = phase_of(now) if phase_of is not None else ""
        if ready and (not can_create or rng.random() < 0.6):
            job = min(ready, key=lambda j: j.last.sent)
            status = job.steps.pop(0)
            job.last = await r.change(job.job_id, job.source, status, phase)
            made.append(job.last)
            if not job.steps:
                live.remove(job)
        elif can_create:
            source = sources[len(made) % len(sources)]
            created = await r.create(source, phase)
            made.append(created)
            final = "COMPLETED" if rng.random() < 0.8 else "FAILED"
            live.append(_Job(created.job_id, source, ["RUNNING", final], created))
            if jobs_left is not None:
                jobs_left -= 1
    return made, live


async def wait_delivered(r: Rig, changes: Iterable[Change], within: float) -> float | None:
    """Wait until every change arrived (its time) or `within` seconds passed (None)."""
    wanted = [c.key for c in changes]
    deadline = time.time() + within
    while time.time() < deadline:
        if all(r.ledger.seen(k) for k in wanted):
            return max((r.ledger.first[k].at for k in wanted), default=time.time())
        await asyncio.sleep(0.1)
    return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Latencies:
    """The changes of one case (or one phase of it) against their deliveries."""

    made: int = 0
    values: list[float] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    by: Counter[str] = field(default_factory=Counter)  # detected_by of the first delivery
    push_values: list[float] = field(default_factory=list)
    poll_values: list[float] = field(default_factory=list)
    duplicates: int = 0  # a change delivered more than once
    resent_ids: int = 0  # one webhook-id received more than once
    unexpected: list[str] = field(default_factory=list)  # deliveries of no change made

    def p(self, q: float) -> float:
        return percentile(self.values, q)

    @property
    def delivered(self) -> int:
        return len(self.values)


def latencies(r: Rig, changes: list[Change], *, unexpected_too: bool = True) -> Latencies:
    r.ledger.refresh()
    out = Latencies(made=len(changes))
    keys = {c.key for c in changes}
    for change in changes:
        arrival = r.ledger.first.get(change.key)
        if arrival is None:
            out.lost.append(f"{change.job_id} -> {change.to_status}")
            continue
        value = arrival.at - change.sent
        out.values.append(value)
        out.by[arrival.detected_by] += 1
        (out.push_values if arrival.detected_by == "push" else out.poll_values).append(value)
        out.duplicates += r.ledger.copies[change.key] > 1
    out.resent_ids = sum(n > 1 for n in r.ledger.webhook_ids.values())
    if unexpected_too:
        out.unexpected = [
            f"{a.job_id} {a.from_status} -> {a.to_status}"
            for key, a in r.ledger.first.items()
            if key not in keys
        ]
    return out


# ---------------------------------------------------------------------------------------------
# /metrics and the simulator's request log


def kind(entry: dict[str, Any]) -> str:
    """What a logged request was: an id re-read, a sweep slice, a status listing, discovery."""
    keys = {k for k, _ in entry["query"]}
    if "job_ids" in keys:
        return "job_ids"
    if "created_at_on_or_before" in keys:
        return "sweep"
    if "status" in keys:
        return "status"
    return "discovery"


def forged(entry: dict[str, Any]) -> bool:
    return any(k == "job_ids" and "forged" in v for k, v in entry["query"])


def busiest_second(times: Iterable[float]) -> int:
    """The most of `times` within any one second."""
    ordered = sorted(times)
    best = low = 0
    for high, moment in enumerate(ordered):
        while ordered[low] <= moment - 1.0:
            low += 1
        best = max(best, high - low + 1)
    return best


def source_of(entry: dict[str, Any]) -> str:
    return {"/api/v2/extract": "extract_v2", "/api/v2/parse": "parse_v2"}.get(
        str(entry["path"]), str(entry["path"])
    )


def daemon_warnings(r: Rig) -> Counter[str]:
    """Warnings and errors of the daemon's log, by event name."""
    found: Counter[str] = Counter()
    path = r.folder / "daemon.log"
    if not path.exists():
        return found
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            if "Traceback" in line:
                found["traceback"] += 1
            continue
        if isinstance(record, dict) and record.get("level") in ("warning", "error", "critical"):
            found[f"{record.get('level')}: {record.get('event')}"] += 1
    return found


# ---------------------------------------------------------------------------------------------
# Part 1: detection latency, pushed and polled


@dataclass
class FastPath:
    interval: float
    lat: Latencies
    accepted: float
    hint_requests: float  # notifier_hint_requests_total
    hint_purpose: float  # notifier_requests_by_purpose_total{purpose="hint"}
    matched: float
    warnings: Counter[str]


async def part1_push(folder: Path, total: int, seed: int) -> FastPath:
    case = Case(
        "1: push, every job hinted",
        Push(duplicates=0.1, seed=seed),
        native=True,
        polling={"interval": "30s"},
        sources=[{"type": "parse_v2"}, {"type": "extract_v2"}],
    )
    rng = random.Random(seed)
    async with rig(case, folder) as r:
        changes, _ = await lifecycles(
            r, rng, sources=("parse_v2",), spacing=(0.1, 0.3), total=total, fallback=35.0
        )
        await wait_delivered(r, changes, within=40.0)
        await asyncio.sleep(2.0)  # late copies (duplicates) have time to show
        text = await r.metrics()
        return FastPath(
            30.0,
            latencies(r, changes),
            metric(text, "notifier_native_webhook_requests_total", outcome="accepted"),
            metric(text, "notifier_hint_requests_total"),
            metric(text, "notifier_requests_by_purpose_total", purpose="hint"),
            metric(text, "notifier_native_webhooks_total", outcome="matched"),
            daemon_warnings(r),
        )


@dataclass
class Polled:
    """Part 1's control and part 2's drop cases: one change per pre-made job, by polling."""

    name: str
    drop: float | None  # None: native webhooks off
    lat: Latencies
    audit: dict[str, float] = field(default_factory=dict)
    hook: dict[str, float] = field(default_factory=dict)
    warnings: Counter[str] = field(default_factory=Counter)


async def polled_case(
    folder: Path, name: str, drop: float | None, count: int, seed: int, *, audit: bool
) -> Polled:
    """`count` parse_v2 jobs made PENDING before the daemon starts; after its baseline each
    moves once (RUNNING, COMPLETED or FAILED), the moves spread over one 30 s interval."""
    interval = 30.0
    native = drop is not None
    case = Case(
        name,
        Push(drop=drop, seed=seed) if drop is not None else None,
        native=native,
        polling={"interval": "30s"},
        sources=[{"type": "parse_v2", "native_webhooks": native}],
    )
    rng = random.Random(seed)
    jobs: list[str] = []

    async def premade(control: Control) -> None:
        jobs.extend([await control.create("parse_v2") for _ in range(count)])

    async with rig(case, folder, premade) as r:
        await asyncio.sleep(rng.uniform(0, interval))  # anywhere in the cycle
        changes = []
        for job in jobs:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * interval / count)
            status = rng.choice(["RUNNING", "RUNNING", "COMPLETED", "FAILED"])
            changes.append(await r.change(job, "parse_v2", status))
        last = await wait_delivered(r, changes, within=interval + 15)
        await asyncio.sleep(2.0)
        result = Polled(name, drop, latencies(r, changes))
        if audit and native:
            # Every detection must be older than the grace at an audit tick.
            await sleep_until((last or time.time()) + AUDIT_GRACE + 2 * AUDIT_TICK + 1)
            text = await r.metrics()
            for outcome in ("matched", "late", "missing", "unmatched", "rejected"):
                result.audit[outcome] = metric(
                    text, "notifier_native_webhooks_total", source="parse_v2", outcome=outcome
                )
            for outcome in ("accepted", "dropped", "rejected"):
                result.hook[outcome] = metric(
                    text, "notifier_native_webhook_requests_total", outcome=outcome
                )
        result.warnings = daemon_warnings(r)
        return result


# ---------------------------------------------------------------------------------------------
# Part 3: a flood of forged hints


def _forged_request(index: int, bad_share: float) -> tuple[bytes, dict[str, str]]:
    family, prefix = ("parse", "pjb") if index % 2 else ("extract", "ext")
    body = json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": f"{family}.success",
            "data": {"job_id": f"{prefix}-forged-{uuid.uuid4()}", "status": "SUCCESS"},
        }
    ).encode()
    secret = LC_SECRET if (index % 100) >= bad_share * 100 else "not-the-secret"
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "LC-Signature": f"sha256={digest}"}


async def _flood(
    hook: str, rate: float, seconds: float, start_at: float, bad_share: float
) -> dict[str, Any]:
    total = round(rate * seconds)
    order = itertools.count()
    statuses: Counter[str] = Counter()
    answers: list[float] = []
    connector = aiohttp.TCPConnector(limit=100)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def sender() -> None:
            while (index := next(order)) < total:
                await sleep_until(start_at + index / rate)
                body, headers = _forged_request(index, bad_share)
                started = time.perf_counter()
                try:
                    async with session.post(hook, data=body, headers=headers) as answer:
                        await answer.read()
                        statuses[str(answer.status)] += 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    statuses[type(exc).__name__] += 1
                answers.append(time.perf_counter() - started)

        await asyncio.gather(*(sender() for _ in range(100)))
    return {
        "sent": total,
        "statuses": dict(statuses),
        "started": start_at,
        "ended": time.time(),
        "answer_p50": percentile(answers, 0.5),
        "answer_p99": percentile(answers, 0.99),
    }


def flood_process(
    hook: str, rate: float, seconds: float, start_at: float, bad_share: float, out: Connection
) -> None:
    """The flood's own process (so the bench's receiver keeps its timing): figures to `out`."""
    out.send(asyncio.run(_flood(hook, rate, seconds, start_at, bad_share)))
    out.close()


@dataclass
class FloodProcess:
    """The flood's process and the pipe its figures come back on."""

    process: multiprocessing.process.BaseProcess
    receive: Connection

    def result(self) -> dict[str, Any]:
        """The sender's figures, once it is done (blocks: call in a thread)."""
        found: dict[str, Any] = self.receive.recv()
        self.process.join(30)
        return found


def start_flood(hook: str, rate: float, seconds: float, start_at: float) -> FloodProcess:
    """`rate` forged hints a second for `seconds` from `start_at`, 10 % badly signed."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=flood_process, args=(hook, rate, seconds, start_at, 0.1, send))
    process.start()
    send.close()
    return FloodProcess(process, receive)


@dataclass
class Flood:
    rate: float
    seconds: float
    sender: dict[str, Any]
    forged_requests: int
    forged_busiest: int
    forged_after_end: float  # seconds the last forged re-read came after the flood ended
    all_busiest_during: int
    hint_metric: float
    hint_purpose: float  # notifier_requests_by_purpose_total{purpose="hint"}
    hook: dict[str, float]
    polls: dict[str, tuple[float, float]]  # source -> (cycles during, expected)
    gaps: dict[str, float]  # source -> longest gap between cycle starts during the flood
    duration: dict[str, tuple[float, float]]  # source -> mean cycle seconds (before, during)
    phases: dict[str, Latencies]
    forged_events: int
    events_total: float
    changes: int
    warnings: Counter[str]
    limit: float


def _mean_duration(before: str, after: str, source: str) -> float:
    total = metric(after, "notifier_poll_duration_seconds_sum", source=source) - metric(
        before, "notifier_poll_duration_seconds_sum", source=source
    )
    count = metric(after, "notifier_poll_duration_seconds_count", source=source) - metric(
        before, "notifier_poll_duration_seconds_count", source=source
    )
    return total / count if count else float("nan")


async def part3_flood(folder: Path, rate: float, seconds: float, seed: int) -> Flood:
    interval, limit = 2.0, 10.0
    case = Case(
        "3: forged hints",
        None,  # real changes reach the daemon by polling only
        native=True,
        polling={"interval": "2s"},
        sources=[{"type": "extract_v2"}, {"type": "parse_v2"}],
        rate=limit,
    )
    rng = random.Random(seed)
    async with rig(case, folder) as r:
        await r.control.clear_requests()
        begin = time.time() + 0.5
        flood_start = begin + seconds
        flood_end = flood_start + seconds
        end = flood_end + seconds

        def phase(moment: float) -> str:
            return "before" if moment < flood_start else "during" if moment < flood_end else "after"

        flood = start_flood(r.hook, rate, seconds, flood_start)
        trickle = asyncio.create_task(
            lifecycles(
                r,
                rng,
                sources=V2,
                spacing=(0.3, 0.7),
                until=end,
                fallback=3 * interval,
                phase_of=phase,
            )
        )
        await sleep_until(begin)
        m_begin = await r.metrics()
        await sleep_until(flood_start)
        m_start = await r.metrics()
        await sleep_until(flood_end)
        m_end = await r.metrics()
        sender = await asyncio.to_thread(flood.result)
        changes, _ = await trickle
        await wait_delivered(r, changes, within=3 * interval + 5)
        # The queue of forged ids drains at the hints' share of the budget: wait it out.
        previous, still, waited = -1.0, 0, 0
        while still < 4 and waited < 90:
            await asyncio.sleep(1.0)
            waited += 1
            now = metric(await r.metrics(), "notifier_hint_requests_total")
            still = still + 1 if now == previous else 0
            previous = now
        m_final = await r.metrics()
        log = await r.control.requests()
        r.ledger.refresh()
        by_phase = {
            name: latencies(r, [c for c in changes if c.phase == name], unexpected_too=False)
            for name in ("before", "during", "after")
        }
        forged_log = [e for e in log if forged(e)]
        during = [e["ts"] for e in log if flood_start <= e["ts"] < flood_end]
        polls: dict[str, tuple[float, float]] = {}
        gaps: dict[str, float] = {}
        duration: dict[str, tuple[float, float]] = {}
        for source in V2:
            polls[source] = (
                metric(m_end, "notifier_polls_total", source=source, outcome="ok")
                - metric(m_start, "notifier_polls_total", source=source, outcome="ok"),
                seconds / interval,
            )
            starts = sorted(
                e["ts"] for e in log if source_of(e) == source and kind(e) == "discovery"
            )
            spans = [
                b - a for a, b in itertools.pairwise(starts) if b >= flood_start and a <= flood_end
            ]
            gaps[source] = max(spans, default=float("nan"))
            duration[source] = (
                _mean_duration(m_begin, m_start, source),
                _mean_duration(m_start, m_end, source),
            )
        hook = {
            outcome: metric(m_final, "notifier_native_webhook_requests_total", outcome=outcome)
            for outcome in ("accepted", "dropped", "rejected")
        }
        return Flood(
            rate=rate,
            seconds=seconds,
            sender=sender,
            forged_requests=len(forged_log),
            forged_busiest=busiest_second(e["ts"] for e in forged_log),
            forged_after_end=max((e["ts"] for e in forged_log), default=flood_end) - flood_end,
            all_busiest_during=busiest_second(during),
            hint_metric=metric(m_final, "notifier_hint_requests_total"),
            hint_purpose=metric(m_final, "notifier_requests_by_purpose_total", purpose="hint"),
            hook=hook,
            polls=polls,
            gaps=gaps,
            duration=duration,
            phases=by_phase,
            forged_events=sum("forged" in a.job_id for a in r.ledger.all()),
            events_total=metric(m_final, "notifier_transitions_total"),
            changes=len(changes),
            warnings=daemon_warnings(r),
            limit=limit,
        )


@dataclass
class Genuine:
    """Genuine pushes while forged hints flood the hook path (polling 30 s)."""

    sender: dict[str, Any]
    phases: dict[str, Latencies]
    hook: dict[str, float]
    warnings: Counter[str]


async def part3_genuine(folder: Path, rate: float, seconds: float, seed: int) -> Genuine:
    """The flood again, now with every parse_v2 job pushed and polling at 30 s: does a genuine
    hint wait behind the forged ones?"""
    case = Case(
        "3b: genuine pushes in a flood",
        Push(seed=seed),
        native=True,
        polling={"interval": "30s"},
        sources=[{"type": "extract_v2"}, {"type": "parse_v2"}],
    )
    rng = random.Random(seed)
    async with rig(case, folder) as r:
        begin = time.time() + 0.5
        flood_start = begin + seconds
        flood_end = flood_start + seconds
        end = flood_end + 1.5 * seconds

        def phase(moment: float) -> str:
            return "before" if moment < flood_start else "during" if moment < flood_end else "after"

        flood = start_flood(r.hook, rate, seconds, flood_start)
        changes, _ = await lifecycles(
            r, rng, sources=("parse_v2",), spacing=(0.3, 0.7), until=end, phase_of=phase
        )
        sender = await asyncio.to_thread(flood.result)
        await wait_delivered(r, changes, within=40.0)
        text = await r.metrics()
        return Genuine(
            sender,
            {
                name: latencies(r, [c for c in changes if c.phase == name], unexpected_too=False)
                for name in ("before", "during", "after")
            },
            {
                outcome: metric(text, "notifier_native_webhook_requests_total", outcome=outcome)
                for outcome in ("accepted", "dropped", "rejected")
            },
            daemon_warnings(r),
        )


# ---------------------------------------------------------------------------------------------
# Part 4: adaptive polling


@dataclass
class Adaptive:
    lat: Latencies
    idle_seconds: float
    idle: dict[str, Counter[str]]  # source -> kind -> requests while idle
    idle_polls: dict[str, float]
    warnings: Counter[str]

    def per_minute(self, source: str) -> float:
        return sum(self.idle[source].values()) / (self.idle_seconds / 60)


async def part4_adaptive(
    folder: Path, busy_seconds: float, idle_seconds: float, seed: int
) -> Adaptive:
    case = Case(
        "4: adaptive polling",
        None,
        native=False,
        polling={"interval": "60s", "active_interval": "5s"},
        sources=[{"type": source} for source in V2],
    )
    rng = random.Random(seed)
    keepers: dict[str, str] = {}

    async def running(control: Control) -> None:
        for source in V2:  # one running job per source: both scopes start busy
            keepers[source] = await control.create(source, "RUNNING")

    async with rig(case, folder, running) as r:
        changes, unfinished = await lifecycles(
            r,
            rng,
            sources=V2,
            spacing=(0.5, 1.5),
            until=time.time() + busy_seconds,
            fallback=15.0,
        )
        await wait_delivered(r, changes, within=20.0)
        lat = latencies(r, changes)
        finals = [await r.change(job, source, "COMPLETED") for source, job in keepers.items()]
        for job in unfinished:
            for status in job.steps:
                finals.append(await r.change(job.job_id, job.source, status))
        await wait_delivered(r, finals, within=30.0)
        await asyncio.sleep(2.0)  # the cycle that saw the last job finish has rescheduled
        before = await r.metrics()
        await r.control.clear_requests()
        started = time.time()
        await asyncio.sleep(idle_seconds)
        log = await r.control.requests()
        after = await r.metrics()
        idle = {source: Counter[str]() for source in V2}
        for entry in log:
            if entry["ts"] >= started and source_of(entry) in idle:
                idle[source_of(entry)][kind(entry)] += 1
        idle_polls = {
            source: metric(after, "notifier_polls_total", source=source, outcome="ok")
            - metric(before, "notifier_polls_total", source=source, outcome="ok")
            for source in V2
        }
        return Adaptive(lat, idle_seconds, idle, idle_polls, daemon_warnings(r))


# ---------------------------------------------------------------------------------------------
# Report


def s(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f} s"  # NaN is not equal to itself


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def latency_row(name: str, lat: Latencies) -> str:
    by = ", ".join(f"{k} {v}" for k, v in sorted(lat.by.items())) or "-"
    return (
        f"| {name} | {lat.made} | {lat.delivered} | {s(lat.p(0.5))} | {s(lat.p(0.95))} "
        f"| {s(lat.p(0.99))} | {s(max(lat.values, default=float('nan')))} | {by} "
        f"| {lat.duplicates} | {len(lat.unexpected)} |"
    )


LATENCY_HEAD = (
    "| case | changes | delivered | p50 | p95 | p99 | max | detected by | duplicates "
    "| other deliveries |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
)


@dataclass
class Results:
    fast: FastPath | None = None
    control: Polled | None = None
    drops: list[Polled] = field(default_factory=list)
    flood: Flood | None = None
    genuine: Genuine | None = None
    adaptive: Adaptive | None = None


def nan_max(values: list[float]) -> float:
    return max(values, default=float("nan"))


class Summary(list[tuple[str, str, str, str, bool]]):
    """Rows of (part, measure, figure, target, met)."""

    def add(self, part: str, measure: str, figure: str, target: str, ok: bool) -> None:
        self.append((part, measure, figure, target, ok))


def _summary_push(rows: Summary, res: Results) -> None:
    if res.fast is not None:
        lat = res.fast.lat
        once = lat.delivered - lat.duplicates
        rows.add(
            "1",
            "detection p50, every job pushed, polling 30 s",
            s(lat.p(0.5)),
            "≤ 0.5 s",
            lat.p(0.5) <= 0.5,
        )
        rows.add(
            "1", "detection p99, every job pushed", s(lat.p(0.99)), "≤ 1.5 s", lat.p(0.99) <= 1.5
        )
        rows.add(
            "1",
            "changes delivered, exactly once",
            f"{once}/{lat.made}",
            "all",
            once == lat.made and not lat.unexpected,
        )
    if res.control is not None:
        lat = res.control.lat
        rows.add(
            "1",
            "control: detection p50, polling only (30 s)",
            s(lat.p(0.5)),
            "≈ 15 s (comparison)",
            5 <= lat.p(0.5) <= 25,
        )
    for case in res.drops:
        lat = case.lat
        pct = f"{case.drop or 0:.0%}"
        rows.add(
            "2",
            f"{pct} dropped: changes delivered, exactly once",
            f"{lat.delivered - lat.duplicates}/{lat.made}",
            "all",
            lat.delivered == lat.made and not lat.duplicates and not lat.unexpected,
        )
        if case.drop == 1.0:
            compare = f" (control p50 {s(res.control.lat.p(0.5))})" if res.control else ""
            rows.add(
                "2",
                "100% dropped: p50 / max",
                f"{s(lat.p(0.5))} / {s(nan_max(lat.values))}{compare}",
                "as polling only: max ≤ 30 s + 5 s",
                nan_max(lat.values) <= 35.0,
            )
        if case.audit:
            polled, pushed = lat.by.get("poll", 0), lat.by.get("push", 0)
            missing = case.audit["missing"]
            arrived = case.audit["matched"] + case.audit["late"]
            share = missing / (missing + arrived) if missing + arrived else float("nan")
            rows.add(
                "2",
                f"{pct} dropped: audit missing (matched + late)",
                f"{missing:.0f} ({arrived:.0f}): {share:.0%} missing",
                f"= found by polling: {polled} (by push {pushed})",
                missing == polled and arrived == pushed,
            )


def _summary_polling(rows: Summary, res: Results) -> None:
    if res.flood is not None:
        fl = res.flood
        rows.add(
            "3",
            "re-reads of forged ids, busiest second",
            f"{fl.forged_busiest} requests",
            f"≤ {fl.limit:g}/s",
            fl.forged_busiest <= fl.limit,
        )
        rows.add("3", "events from forged hints", str(fl.forged_events), "0", fl.forged_events == 0)
        gap = max(fl.gaps.values())
        rows.add(
            "3",
            "longest gap between cycle starts in the flood (interval 2 s)",
            s(gap),
            "≤ 3 s: polls not delayed",
            gap <= 3.0,
        )
        during = fl.phases["during"]
        rows.add(
            "3",
            "real changes made during the flood: p50 / max",
            f"{s(during.p(0.5))} / {s(nan_max(during.values))}",
            "max ≤ 3 s, none lost",
            bool(during.values) and nan_max(during.values) <= 3.0 and not during.lost,
        )
    if res.genuine is not None:
        during = res.genuine.phases["during"]
        rows.add(
            "3b",
            "genuine pushes during the flood (polling 30 s): p50 / max",
            f"{s(during.p(0.5))} / {s(nan_max(during.values))}",
            "as part 1: p50 ≤ 0.5 s",
            during.p(0.5) <= 0.5,
        )
    if res.adaptive is not None:
        ad = res.adaptive
        worst = max(ad.per_minute(source) for source in V2)
        rows.add(
            "4",
            "idle: requests per minute per v2 source (worst)",
            f"{worst:.2f}",
            "≤ 1",
            worst <= 1.0,
        )
        rows.add(
            "4",
            "detection p50 while jobs run (active_interval 5 s)",
            s(ad.lat.p(0.5)),
            "≤ 3 s",
            ad.lat.p(0.5) <= 3.0,
        )


def summary(res: Results) -> Summary:
    rows = Summary()
    _summary_push(rows, res)
    _summary_polling(rows, res)
    return rows


def tables(res: Results) -> str:
    out = ["| part | measure | result | target | |", "| --- | --- | --- | --- | --- |"]
    out += [f"| {p} | {m} | {fig} | {t} | {verdict(ok)} |" for p, m, fig, t, ok in summary(res)]
    lat_rows = [latency_row(name, lat) for name, lat in _latency_cases(res)]
    if lat_rows:
        out += ["", "Detection latency (control call sent -> verified webhook received):", ""]
        out += [LATENCY_HEAD, *lat_rows]
    return "\n".join(out)


def _latency_cases(res: Results) -> list[tuple[str, Latencies]]:
    found = []
    if res.fast is not None:
        found.append(("1: push (10 % sent twice), polling 30 s", res.fast.lat))
    if res.control is not None:
        found.append(("1: polling only, 30 s", res.control.lat))
    found += [(f"2: {c.drop or 0:.0%} of pushes dropped", c.lat) for c in res.drops]
    if res.flood is not None:
        found += [(f"3: polling 2 s, {k} the flood", v) for k, v in res.flood.phases.items()]
    if res.genuine is not None:
        found += [
            (f"3b: push, polling 30 s, {k} the flood", v) for k, v in res.genuine.phases.items()
        ]
    if res.adaptive is not None:
        found.append(("4: active_interval 5 s, jobs running", res.adaptive.lat))
    return found


def _details_push(res: Results) -> list[str]:
    lines = []
    if res.fast is not None:
        fast = res.fast
        lines.append(
            f"- 1: {fast.accepted:.0f} pushes accepted (202); re-read requests: "
            f"{fast.hint_purpose:.0f} by purpose, {fast.hint_requests:.0f} by "
            f"`notifier_hint_requests_total`; {fast.matched:.0f} audit matches; by push p50 "
            f"{s(percentile(fast.lat.push_values, 0.5))}, by poll {len(fast.lat.poll_values)}; "
            f"webhook-ids received twice: {fast.lat.resent_ids}."
        )
    for case in res.drops:
        if case.audit:
            au = case.audit
            lines.append(
                f"- 2 ({case.drop or 0:.0%} dropped): audit matched {au['matched']:.0f}, late "
                f"{au['late']:.0f}, missing {au['missing']:.0f}, unmatched {au['unmatched']:.0f}, "
                f"rejected {au['rejected']:.0f}; hook requests accepted "
                f"{case.hook.get('accepted', 0):.0f}; by push p50 "
                f"{s(percentile(case.lat.push_values, 0.5))}, by poll p50 "
                f"{s(percentile(case.lat.poll_values, 0.5))}."
            )
    return lines


def _details_flood(fl: Flood) -> list[str]:
    sent = fl.sender
    took = max(1e-9, float(sent["ended"]) - float(sent["started"]))
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(sent["statuses"].items()))
    lines = [
        f"- 3: {sent['sent']} forged hints in {took:.1f} s ({sent['sent'] / took:.0f}/s, asked "
        f"{fl.rate:g}/s; 10 % badly signed); answers {answers}; answer p50 "
        f"{s(sent['answer_p50'])}, p99 {s(sent['answer_p99'])}. The daemon counted accepted "
        f"{fl.hook['accepted']:.0f}, dropped (queue full) {fl.hook['dropped']:.0f}, rejected "
        f"{fl.hook['rejected']:.0f}.",
        f"- 3: re-reads of forged ids: {fl.forged_requests} requests "
        f"(`notifier_hint_requests_total` says {fl.hint_metric:.0f}, "
        f'`notifier_requests_by_purpose_total{{purpose="hint"}}` {fl.hint_purpose:.0f}), '
        f"busiest second "
        f"{fl.forged_busiest}, the last {fl.forged_after_end:.1f} s after the flood ended; all "
        f"the daemon's requests, busiest second during the flood: {fl.all_busiest_during} "
        f"(budget {fl.limit:g}/s, a bucket of one second's worth).",
    ]
    for source in V2:
        done, expected = fl.polls[source]
        before, during = fl.duration[source]
        lines.append(
            f"- 3: {source}: {done:.0f} cycles during the flood (expected {expected:.0f}), "
            f"longest gap between cycle starts {s(fl.gaps[source])}, mean cycle "
            f"{s(before)} before, {s(during)} during."
        )
    lines.append(
        f"- 3: {fl.changes} real changes, {fl.events_total:.0f} events in the daemon "
        f"(`notifier_transitions_total`), {fl.forged_events} about forged jobs."
    )
    return lines


def _warnings(res: Results) -> list[tuple[str, Counter[str]]]:
    cases: list[tuple[str, Counter[str]]] = []
    if res.fast is not None:
        cases.append(("1 push", res.fast.warnings))
    if res.control is not None:
        cases.append(("1 control", res.control.warnings))
    cases += [(f"2 {c.drop or 0:.0%}", c.warnings) for c in res.drops]
    if res.flood is not None:
        cases.append(("3", res.flood.warnings))
    if res.genuine is not None:
        cases.append(("3b", res.genuine.warnings))
    if res.adaptive is not None:
        cases.append(("4", res.adaptive.warnings))
    return cases


def details(res: Results) -> str:
    lines = _details_push(res)
    if res.flood is not None:
        lines += _details_flood(res.flood)
    if res.genuine is not None:
        gen = res.genuine
        by = {k: dict(v.by) for k, v in gen.phases.items()}
        lines.append(
            f"- 3b: {gen.sender['sent']} forged hints beside the genuine pushes; the daemon "
            f"accepted {gen.hook['accepted']:.0f}, dropped {gen.hook['dropped']:.0f}; detected "
            f"by, per phase: {by}."
        )
    if res.adaptive is not None:
        ad = res.adaptive
        for source in V2:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(ad.idle[source].items())) or "none"
            lines.append(
                f"- 4: {source} idle for {ad.idle_seconds / 60:.0f} min: "
                f"{sum(ad.idle[source].values())} requests ({kinds}) in "
                f"{ad.idle_polls[source]:.0f} cycles."
            )
    warned = [
        f"{name}: " + ", ".join(f"{k} x{v}" for k, v in counts.most_common())
        for name, counts in _warnings(res)
        if counts
    ]
    lines.append("- daemon log warnings: " + ("; ".join(warned) if warned else "none"))
    for name, lat in _latency_cases(res):
        if lat.lost:
            lines.append(f"- {name}: never delivered: {', '.join(lat.lost[:5])}")
        if lat.unexpected:
            shown = ", ".join(lat.unexpected[:5])
            lines.append(f"- {name}: deliveries of no change made: {shown}")
    return "\n".join(lines)


def record(text: str, command: str, minutes: float, doc: Path | None = None) -> Path:
    from bench.__main__ import DOC, machine, replace_section

    path = doc or DOC
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    intro = " ".join(" ".join((__doc__ or "").split("\n\n")[1:2]).split())
    stamp = f"Measured {time.strftime('%Y-%m-%d')} on {machine()}, in {minutes:.0f} min."
    body = f"{intro}\n\n{stamp} Reproduce with `{command}`.\n\n{text}"
    path.write_text(replace_section(current, TITLE, body))
    return path


# ---------------------------------------------------------------------------------------------
# Command line


@dataclass(frozen=True)
class Sizes:
    fast_changes: int
    control_changes: int
    drop_changes: int
    flood_rate: float
    flood_seconds: float
    busy_seconds: float
    idle_seconds: float


FULL = Sizes(200, 40, 40, 1000.0, 10.0, 40.0, 180.0)
QUICK = Sizes(30, 10, 10, 200.0, 3.0, 15.0, 60.0)


async def run(parts: set[int], sizes: Sizes, base: Path, seed: int) -> Results:
    res = Results()
    if 1 in parts:
        print("part 1: push, every job hinted ...", flush=True)
        res.fast = await part1_push(base / "1-push", sizes.fast_changes, seed)
    group: list[Awaitable[Any]] = []
    names: list[str] = []
    if 1 in parts:
        names.append("1 control")
        group.append(
            polled_case(
                base / "1-control",
                "1: polling only",
                None,
                sizes.control_changes,
                seed,
                audit=False,
            )
        )
    if 2 in parts:
        for drop in (1.0, 0.5):
            names.append(f"2 ({drop:.0%} dropped)")
            group.append(
                polled_case(
                    base / f"2-drop-{drop:g}",
                    f"2: {drop:.0%} dropped",
                    drop,
                    sizes.drop_changes,
                    seed + int(drop * 10),
                    audit=True,
                )
            )
    if 4 in parts:
        names.append("4 (adaptive)")
        group.append(
            part4_adaptive(base / "4-adaptive", sizes.busy_seconds, sizes.idle_seconds, seed)
        )
    if group:
        print(f"side by side: {', '.join(names)} ...", flush=True)
        for value in await asyncio.gather(*group):
            if isinstance(value, Polled):
                if value.drop is None:
                    res.control = value
                else:
                    res.drops.append(value)
            elif isinstance(value, Adaptive):
                res.adaptive = value
    if 3 in parts:
        print("part 3: forged hints ...", flush=True)
        res.flood = await part3_flood(base / "3-flood", sizes.flood_rate, sizes.flood_seconds, seed)
        print("part 3b: genuine pushes in a flood ...", flush=True)
        res.genuine = await part3_genuine(
            base / "3b-genuine", sizes.flood_rate, sizes.flood_seconds, seed
        )
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The push benchmark (see the module docstring).")
    parser.add_argument("--part", type=int, action="append", choices=[1, 2, 3, 4])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--record", action="store_true", help="write the section to the docs")
    parser.add_argument("--keep", type=Path, help="keep each case's folder under this")
    args = parser.parse_args(argv)
    parts = set(args.part or [1, 2, 3, 4])
    started = time.time()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="push-bench-", dir=args.keep))
    try:
        res = asyncio.run(run(parts, QUICK if args.quick else FULL, base, args.seed))
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"kept {base}", flush=True)
    minutes = (time.time() - started) / 60
    text = f"{tables(res)}\n\n{details(res)}"
    print(f"\n{text}\n\nin {minutes:.1f} minutes", flush=True)
    if args.record:
        command = "python -m bench.push " + shlex.join(argv if argv is not None else sys.argv[1:])
        print(f"\nwritten to {record(text, command.strip(), minutes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
