"""Scale: the daemon watching 150,000 jobs, beside a naive poller on LlamaCloud's official SDK.

Why: the other benchmarks measure one cycle at a time. This one runs the real daemon
(`python -m notifier run`, its own process, settings at their defaults: 10 requests a second,
raised to 20 at 2 s, where the cheap cycles alone ask about 11; the lookback of 3 days) for
many minutes against the simulator (its own process) holding
100,000 finished + 1,000 running extract_v2 jobs and 50,000 finished + 500 running parse_v2
jobs, while the jobs keep changing, and asks what an operator would: how many requests does a
cycle cost once baselines and sweeps are counted in, how late does a webhook arrive, does the
daemon stay ready, how much CPU and memory does it take, is every change delivered exactly
once. The naive poller (`bench.naive_sdk`: every interval, every page of the lookback window
through the SDK, diffed against its previous listing) runs the same scenario on a fresh
simulator of the same size, so the two sets of figures stand side by side.

Every interval, per source, the bench makes 10 status changes at random moments within the
interval plus one new job (PENDING): extract_v2 one PENDING -> RUNNING, four running jobs
finishing (COMPLETED 75 %, FAILED 20 %, CANCELLED 5 %), three new RUNNING jobs replacing
them, one RUNNING -> THROTTLED and one THROTTLED -> RUNNING; parse_v2 one PENDING ->
RUNNING, five finishing, four new RUNNING. So the number of unfinished jobs stays at its
size. About every 30 s (every interval at 30 s) one of the new RUNNING jobs is replaced by a
re-run: an old FAILED job of the bulk back to RUNNING or PENDING, which discovery from the
watermark cannot list, since its `created_at` is hours or a day old (a sweep, a reconcile
pass, or a status listing reaching that far back finds it); re-runs stop 1.5 sweep periods
(3 intervals for the naive poller) before the end so that a sweep can find the last one.
A job is changed again only once the
poller under test reported its previous change (and never twice in one interval), so no
change can hide behind another within one poll.

Measured per interval (2 s, 30 s) and poller:

- requests per cycle per source, from the simulator's request log (`/_sim/requests`, by path),
  amortized over the whole run (baseline and sweeps included; cycles from the daemon's
  `notifier_polls_total`) and for the steady cycle alone (discovery and refresh requests:
  what is neither the baseline nor a sweep of the whole lookback window); with the projection
  at the default `sweep_every` of 6 h, since a run of minutes shortens it;
- detection latency of every change: the bench's change in the simulator -> the verified
  webhook at the bench's receiver (matched by job, to_status and change number), or the naive
  poller's detection; p50, p95, max, for re-runs and during sweeps separately;
- `/readyz` every 0.5 s once both baselines are done: any answer but 200, and for how long;
- CPU per cycle (`/proc/<pid>/stat` utime + stime after the baselines, over the mean of the
  two sources' cycles: deliveries, sweeps and HTTP included) and peak RSS (VmHWM);
- exactly once: duplicate webhook-ids, a second delivery of one change, a change never
  delivered.

The sweep period is shortened for the run (`polling.sweep_every` if `notifier check` takes
it, else `polling.reconcile_every` cycles of the same length): by default the longer of 3 min
(2 s) or 5 min (30 s) and what a pass takes at the default budget (sweeps at most half of 10
requests a second) plus 20 %: 7 min at full size. The daemon gets two sweep periods and a
minute of changes, the naive poller 5 minutes.

`python -m bench.scale` (or `make bench-scale`, which records) runs both intervals for about
an hour; `--interval 2`, `--minutes`, `--naive-minutes`, `--sweep-every`, `--only`,
`--rate`, `--quick` (7,575 jobs, 1 minute) for smaller runs; `--keep DIR` keeps each run's logs,
store, request log and a pickle that `--replay` turns into the tables again; `--record`
writes the section "Scale" of docs/benchmarks.md. `make bench` does not run it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import pickle
import random
import re
import shlex
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.latency import percentile
from bench.scrape import metric
from bench.simproc import KEY, SimProcess
from notifier.core.timestamps import format_ts, parse_ts
from tests.harness import WEBHOOK_SECRET, DaemonProcess, Received, Receiver, baseline_done

TITLE = "Scale"
REPO = Path(__file__).resolve().parent.parent
SOURCES = ("extract_v2", "parse_v2")
PATHS = {"extract_v2": "/api/v2/extract", "parse_v2": "/api/v2/parse"}
PREFIX = {"extract_v2": "ext-", "parse_v2": "pjb-"}
ACTIVE = ("PENDING", "RUNNING", "THROTTLED")
LOOKBACK = timedelta(days=3)  # polling.lookback's default, which the naive poller uses too
DEFAULT_SWEEP = timedelta(hours=6)  # polling.sweep_every's default, for the projection
# What the daemon may spend by default: max_requests_per_second 10, sweeps at most half.
DEFAULT_RATE = 10.0
# At 2 s the two sources' cheap cycles alone ask about 11 requests a second: the 2 s scenario
# is the 30 s one compressed fifteen times, so its budget is raised with it (README, "One
# request budget"); `--rate` overrides.
SHORT_INTERVAL_RATE = 20.0
SWEEP_SHARE = 0.5
SIM_LOG_SIZE = 10_000  # the simulator keeps its last 10,000 requests

# The 10 changes of one interval, per source (plus one new PENDING job).
PLAN = {
    "extract_v2": ["start"] + ["finish"] * 4 + ["replace"] * 3 + ["throttle", "unthrottle"],
    "parse_v2": ["start"] + ["finish"] * 5 + ["replace"] * 4,
}
RERUN_EVERY_SECONDS = 30.0

TARGET_REQUESTS = 15.0
TARGET_RSS_MB = 150.0


@dataclass(frozen=True)
class Sizes:
    finished: dict[str, int]
    running: dict[str, int]

    def window_jobs(self, source: str) -> int:
        return self.finished[source] + self.running[source]


FULL = Sizes({"extract_v2": 100_000, "parse_v2": 50_000}, {"extract_v2": 1_000, "parse_v2": 500})
QUICK = Sizes({"extract_v2": 5_000, "parse_v2": 2_500}, {"extract_v2": 50, "parse_v2": 25})


@dataclass(frozen=True)
class RunPlan:
    """One run: a poller at an interval, for `minutes` of changes after its baselines."""

    poller: str  # "daemon" or "naive"
    interval: float
    minutes: float
    sweep_every: int  # seconds; the daemon's sweep period for the run
    sizes: Sizes
    seed: int = 12
    rate: float = 10.0  # llamacloud.max_requests_per_second (DEFAULT_RATE: the default)


# ---------------------------------------------------------------------------------------------
# The changes the bench makes and what the poller under test reported


@dataclass
class Change:
    n: int
    source: str
    job_id: str
    kind: str
    from_status: str | None
    to_status: str
    made: float
    interval: int
    detected: float | None = None
    detected_from: str | None = None


@dataclass(frozen=True)
class Detection:
    source: str
    job_id: str
    from_status: str | None
    to_status: str
    t: float
    ident: str
    type: str = "job.status_changed"


class Ledger:
    """The bench's changes and the poller's reports, matched by job, to_status and order."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.by_job: dict[str, list[Change]] = {}
        self.pools: dict[str, dict[str, set[str]]] = {
            s: {status: set() for status in ACTIVE} for s in SOURCES
        }
        self.rerun_candidates: dict[str, list[str]] = {s: [] for s in SOURCES}
        self.detections: list[Detection] = []
        self.orphans: dict[str, list[Detection]] = {}
        self.ids: Counter[str] = Counter()
        self.other_types: Counter[str] = Counter()
        self.fallbacks: Counter[str] = Counter()

    def eligible(self, job_id: str, interval: int) -> bool:
        """The poller reported the job's last change, and it was not in this interval."""
        changes = self.by_job.get(job_id)
        if not changes:
            return True
        last = changes[-1]
        return last.detected is not None and last.interval != interval

    def pick(self, source: str, status: str, interval: int, rng: random.Random) -> str | None:
        pool = [j for j in self.pools[source][status] if self.eligible(j, interval)]
        return rng.choice(pool) if pool else None

    def made(self, change: Change) -> None:
        self.changes.append(change)
        self.by_job.setdefault(change.job_id, []).append(change)
        pools = self.pools[change.source]
        if change.from_status in pools:
            pools[change.from_status].discard(change.job_id)
        if change.to_status in pools:
            pools[change.to_status].add(change.job_id)
        for detection in self.orphans.pop(change.job_id, []):
            self._match(detection)

    def absorb(self, detection: Detection) -> None:
        self.detections.append(detection)
        self.ids[detection.ident] += 1
        if detection.type != "job.status_changed":
            self.other_types[detection.type] += 1
        elif self.ids[detection.ident] == 1:  # a repeated webhook-id is counted, not matched
            self._match(detection)

    def _match(self, detection: Detection) -> None:
        for change in self.by_job.get(detection.job_id, []):
            if change.detected is None and change.to_status == detection.to_status:
                change.detected = detection.t
                change.detected_from = detection.from_status
                return
        self.orphans.setdefault(detection.job_id, []).append(detection)

    def unmatched(self) -> list[Change]:
        return [c for c in self.changes if c.detected is None]


# ---------------------------------------------------------------------------------------------
# The simulator's control API


class SimControl:
    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = url, session

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(method, self.url + path, json=body) as response:
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {await response.text()}")
            return await response.json()

    async def create(self, source: str, status: str, created_at: str | None = None) -> str:
        body: dict[str, Any] = {"source": source, "status": status}
        if created_at is not None:
            body["created_at"] = created_at
        return str((await self.call("POST", "/_sim/jobs", body))["id"])

    async def set_status(self, job_id: str, status: str) -> None:
        body: dict[str, Any] = {"status": status}
        if status == "FAILED":
            body["error_message"] = "scale bench: simulated failure"
        await self.call("POST", f"/_sim/jobs/{job_id}/status", body)


async def populate(sim: SimControl, sizes: Sizes, ledger: Ledger, rng: random.Random) -> None:
    """Finished jobs in bulk (5 % FAILED) and the running ones, created over the last 2 h."""
    limit = asyncio.Semaphore(16)
    now = datetime.now(UTC)

    async def one(source: str, status: str) -> None:
        created = format_ts(now - timedelta(seconds=rng.uniform(60, 7200)))
        async with limit:
            job_id = await sim.create(source, status, created)
        ledger.pools[source][status].add(job_id)

    for source in SOURCES:
        failed = sizes.finished[source] // 20
        for status, count in (("COMPLETED", sizes.finished[source] - failed), ("FAILED", failed)):
            await sim.call(
                "POST", "/_sim/bulk", {"source": source, "count": count, "status": status}
            )
        running = sizes.running[source]
        mix = {"PENDING": running // 20}
        if source == "extract_v2":
            mix["THROTTLED"] = running // 20
        mix["RUNNING"] = running - sum(mix.values())
        await asyncio.gather(*(one(source, s) for s, n in mix.items() for _ in range(n)))
    failed_jobs = await sim.call("GET", "/_sim/jobs?status=FAILED&limit=1000000")
    for source in SOURCES:
        ids = [j["id"] for j in failed_jobs if j["source"] == source]
        rng.shuffle(ids)
        ledger.rerun_candidates[source] = ids[:5000]


FINISHES = (("COMPLETED", 0.75), ("FAILED", 0.20), ("CANCELLED", 0.05))


async def drive(
    source: str,
    sim: SimControl,
    ledger: Ledger,
    *,
    interval: float,
    until: float,
    reruns_until: float,
    rng: random.Random,
) -> None:
    """The changes of one source, interval after interval, until `until`."""
    rerun_every = max(1, round(RERUN_EVERY_SECONDS / interval))
    start = time.time()
    number = 0
    while (begin := start + number * interval) < until:
        kinds = [*PLAN[source], "new"]
        if number % rerun_every == rerun_every // 2 and begin < reruns_until:
            kinds[kinds.index("replace")] = "rerun"
        rng.shuffle(kinds)
        offsets = sorted(rng.uniform(0, interval) for _ in kinds)
        for offset, kind in zip(offsets, kinds, strict=True):
            await asyncio.sleep(max(0.0, begin + offset - time.time()))
            await change(source, kind, sim, ledger, number, rng)
        number += 1
    await asyncio.sleep(max(0.0, start + number * interval - time.time()))


async def change(
    source: str, kind: str, sim: SimControl, ledger: Ledger, number: int, rng: random.Random
) -> None:
    """One change of `kind`; a kind without an eligible job falls back to a new RUNNING job."""
    job_id: str | None = None
    before: str | None = None
    after = "RUNNING"
    if kind == "start":
        before, job_id = "PENDING", ledger.pick(source, "PENDING", number, rng)
    elif kind == "finish":
        before, job_id = "RUNNING", ledger.pick(source, "RUNNING", number, rng)
        after = rng.choices([s for s, _ in FINISHES], [w for _, w in FINISHES])[0]
    elif kind == "throttle":
        before, job_id, after = "RUNNING", ledger.pick(source, "RUNNING", number, rng), "THROTTLED"
    elif kind == "unthrottle":
        before, job_id = "THROTTLED", ledger.pick(source, "THROTTLED", number, rng)
    elif kind == "rerun" and ledger.rerun_candidates[source]:
        before, job_id = "FAILED", ledger.rerun_candidates[source].pop()
        after = "PENDING" if rng.random() < 1 / 3 else "RUNNING"
    if job_id is not None:
        await sim.set_status(job_id, after)
    else:
        if kind not in ("new", "replace"):
            ledger.fallbacks[kind] += 1
            kind = "replace"
        before, after = None, "PENDING" if kind == "new" else "RUNNING"
        job_id = await sim.create(source, after)
    made = time.time()
    ledger.made(Change(len(ledger.changes), source, job_id, kind, before, after, made, number))


# ---------------------------------------------------------------------------------------------
# Watching: the simulator's request log, the daemon's /metrics and /readyz, /proc


@dataclass(frozen=True)
class Request:
    ts: float
    source: str
    kind: str  # discovery, refresh, window (baseline or sweep), other
    far_end: bool  # a first page whose created_at_on_or_after is the lookback's far end


def classify(entry: dict[str, Any]) -> Request | None:
    """What a logged request was for, by its path and query."""
    path = str(entry["path"])
    source = next((s for s, p in PATHS.items() if path.startswith(p)), None)
    if source is None:
        return None
    ts = float(entry["ts"])
    query: dict[str, str] = {str(k): str(v) for k, v in entry["query"]}
    low = parse_ts(query.get("created_at_on_or_after"))
    if path != PATHS[source] or "job_ids" in query or "status" in query:
        kind = "refresh"
    elif low is None or "created_at_on_or_before" in query or low.timestamp() < ts - 900:
        kind = "window"
    else:
        kind = "discovery"
    far = (
        kind == "window"
        and "page_token" not in query
        and (low is None or low.timestamp() < ts - LOOKBACK.total_seconds() + 600)
    )
    return Request(ts, source, kind, far)


class RequestLog:
    """Everything the simulator logged under /api/, read incrementally (it keeps 10,000)."""

    def __init__(self, sim: SimControl, dump: Path | None = None) -> None:
        self.sim = sim
        self.dump = dump  # where the raw entries go, one JSON object a line
        self.requests: list[Request] = []
        self.last = 0.0
        self.overflows = 0

    async def fetch(self) -> None:
        entries = await self.sim.call("GET", "/_sim/requests")
        new = [e for e in entries if float(e["ts"]) > self.last]
        if self.last and len(entries) >= SIM_LOG_SIZE and float(entries[0]["ts"]) > self.last:
            self.overflows += 1  # requests between two reads were lost
        if self.dump is not None and new:
            with self.dump.open("a") as out:
                out.writelines(json.dumps(entry) + "\n" for entry in new)
        for entry in new:
            request = classify(entry)
            if request is not None:
                self.requests.append(request)
        if new:
            self.last = float(new[-1]["ts"])

    async def follow(self, stop: asyncio.Event, every: float) -> None:
        while not stop.is_set():
            await self.fetch()
            await wait_or(stop, every)


def polls(text: str, source: str) -> tuple[float, float]:
    return (
        metric(text, "notifier_polls_total", source=source, outcome="ok"),
        metric(text, "notifier_polls_total", source=source, outcome="error"),
    )


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_or(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))


async def watch_ready(
    session: aiohttp.ClientSession, url: str, stop: asyncio.Event, out: list[tuple[float, int, str]]
) -> None:
    """/readyz every 0.5 s: (time, status or 0 when nothing answered, body when not 200)."""
    while not stop.is_set():
        started = time.time()
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                body = "" if response.status == 200 else (await response.text())[:300]
                out.append((started, response.status, body))
        except (aiohttp.ClientError, TimeoutError) as exc:
            out.append((started, 0, repr(exc)))
        await wait_or(stop, started + 0.5 - time.time())


async def watch_metrics(
    session: aiohttp.ClientSession, url: str, stop: asyncio.Event, out: list[tuple[float, str]]
) -> None:
    while not stop.is_set():
        started = time.time()
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
                out.append((started, await response.text()))
        except (aiohttp.ClientError, TimeoutError):
            pass
        await wait_or(stop, started + 2.0 - time.time())


# ---------------------------------------------------------------------------------------------
# The pollers under test


class Arrivals(list[Received]):
    """The receiver's list of verified requests, handing each one on as it arrives."""

    def __init__(self, sink: Callable[[Received, float], None]) -> None:
        super().__init__()
        self.sink = sink

    def append(self, item: Received) -> None:
        super().append(item)
        self.sink(item, time.time())


def daemon_config(
    folder: Path,
    sim_url: str,
    hook_url: str,
    port: int,
    interval: float,
    polling: dict[str, Any],
    rate: float = DEFAULT_RATE,
) -> Path:
    """The bench's daemon config: defaults except where the run needs its own values."""
    llamacloud: dict[str, Any] = {"base_url": sim_url, "api_key": KEY}
    if rate != DEFAULT_RATE:
        llamacloud["max_requests_per_second"] = rate
    config = {
        "llamacloud": llamacloud,
        "store": {"path": str(folder / "notifier.db")},
        "polling": {"interval": f"{interval:g}s", **polling},
        "sources": [{"type": source} for source in SOURCES],
        "channels": {
            "hook": {"type": "webhook", "url": hook_url, "secret": "${TEST_WEBHOOK_SECRET}"}
        },
        "rules": [{"name": "everything", "notify": ["hook"]}],
        "http": {"listen": f"127.0.0.1:{port}"},
    }
    path = folder / "notifier.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


async def check_config(path: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier",
        "check",
        "--config",
        str(path),
        cwd=str(REPO),
        env={**os.environ, "TEST_WEBHOOK_SECRET": WEBHOOK_SECRET},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


async def sweep_setting(
    folder: Path, sim_url: str, hook_url: str, port: int, plan: RunPlan
) -> tuple[Path, str]:
    """`polling.sweep_every` if `notifier check` accepts it, else `reconcile_every` cycles."""
    interval, sweep_every = plan.interval, plan.sweep_every
    polling: dict[str, Any] = {"sweep_every": f"{sweep_every}s"}
    config = daemon_config(folder, sim_url, hook_url, port, interval, polling, plan.rate)
    code, output = await check_config(config)
    if code == 0:
        return config, f"sweep_every {fmt_duration(sweep_every)}"
    cycles = max(1, round(sweep_every / interval))
    config = daemon_config(
        folder, sim_url, hook_url, port, interval, {"reconcile_every": cycles}, plan.rate
    )
    code, fallback = await check_config(config)
    if code != 0:
        raise RuntimeError(f"notifier check refused both configs:\n{output}\n{fallback}")
    return config, f"reconcile_every {cycles} (no sweep_every)"


def fmt_duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


@dataclass
class Observed:
    """What one run collected, for `figures`."""

    plan: RunPlan
    sweep: str
    started: float = 0.0
    baselines: dict[str, float] = field(default_factory=dict)
    window: tuple[float, float] = (0.0, 0.0)
    stopped: float = 0.0
    cycles: dict[str, float] = field(default_factory=dict)
    cycles_at_baseline: dict[str, float] = field(default_factory=dict)
    cycle_errors: dict[str, float] = field(default_factory=dict)
    cpu: float = 0.0
    peak_rss_mb: float = 0.0
    ready: list[tuple[float, int, str]] = field(default_factory=list)
    metrics: list[tuple[float, str]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    log_overflows: int = 0
    self_counted: dict[str, int] = field(default_factory=dict)  # the naive poller's own count
    naive_cycle_seconds: dict[str, list[float]] = field(default_factory=dict)
    naive_first_requests: dict[str, int] = field(default_factory=dict)
    warnings: Counter[str] = field(default_factory=Counter)
    log_path: str = ""
    daemon_log: DaemonLog | None = None
    counted_until: float = math.inf  # requests after the daemon's last /metrics read: uncounted


async def measure(plan: RunPlan, sim: SimProcess, folder: Path) -> tuple[Observed, Ledger]:
    """One run against a populated simulator; the ledger holds every change and report."""
    rng = random.Random(plan.seed)
    ledger = Ledger()
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        control = SimControl(sim.url, session)
        print(f"  populating the simulator ({sim.url})...", flush=True)
        await populate(control, plan.sizes, ledger, rng)
        log = RequestLog(control, folder / "requests.jsonl" if plan.poller == "daemon" else None)
        await control.call("DELETE", "/_sim/requests")
        if plan.poller == "daemon":
            observed = await _run_daemon(plan, control, session, ledger, log, folder, rng)
        else:
            observed = await _run_naive(plan, control, ledger, log, folder, rng)
        observed.requests = log.requests
        observed.log_overflows = log.overflows
    return observed, ledger


async def _changes(
    plan: RunPlan, control: SimControl, ledger: Ledger, rng: random.Random, reruns_margin: float
) -> tuple[float, float]:
    start = time.time()
    until = start + plan.minutes * 60
    await asyncio.gather(
        *(
            drive(
                source,
                control,
                ledger,
                interval=plan.interval,
                until=until,
                reruns_until=until - reruns_margin,
                rng=random.Random(rng.random()),
            )
            for source in SOURCES
        )
    )
    return start, time.time()


async def _drain(ledger: Ledger, cap: float) -> None:
    """Until every change was reported, or `cap` seconds."""
    deadline = time.time() + cap
    while ledger.unmatched() and time.time() < deadline:
        await asyncio.sleep(1.0)


async def _run_daemon(
    plan: RunPlan,
    control: SimControl,
    session: aiohttp.ClientSession,
    ledger: Ledger,
    log: RequestLog,
    folder: Path,
    rng: random.Random,
) -> Observed:
    def arrived(item: Received, at: float) -> None:
        data = item.payload.get("data", {})
        ledger.absorb(
            Detection(
                str(data.get("source")),
                str(data.get("job_id")),
                data.get("from_status"),
                str(data.get("to_status")),
                at,
                item.webhook_id,
                str(item.payload.get("type")),
            )
        )

    receiver = await Receiver(received=Arrivals(arrived)).start()
    port = free_port()
    config, sweep = await sweep_setting(folder, control.url, receiver.url, port, plan)
    print(f"  daemon: polling every {plan.interval:g}s, {sweep}", flush=True)
    observed = Observed(plan, sweep, log_path=str(folder / "daemon.log"))
    base = f"http://127.0.0.1:{port}"
    stop_watching = asyncio.Event()
    watchers = [asyncio.create_task(log.follow(stop_watching, 10.0))]
    daemon = await DaemonProcess(config, folder / "daemon.log").start()
    assert daemon.process is not None
    pid = daemon.process.pid
    observed.started = time.time()
    try:
        watchers.append(
            asyncio.create_task(
                watch_metrics(session, base + "/metrics", stop_watching, observed.metrics)
            )
        )
        await _daemon_baselines(observed, folder / "notifier.db", daemon)
        observed.cycles_at_baseline = {s: sum(polls(observed.metrics[-1][1], s)) for s in SOURCES}
        print(
            "  baselines done after "
            + ", ".join(f"{s} {t - observed.started:.0f}s" for s, t in observed.baselines.items()),
            flush=True,
        )
        cpu_before = cpu_seconds(pid)
        stop_ready = asyncio.Event()
        ready = asyncio.create_task(
            watch_ready(session, base + "/readyz", stop_ready, observed.ready)
        )
        observed.window = await _changes(plan, control, ledger, rng, 1.5 * plan.sweep_every)
        reruns_open = any(c.kind == "rerun" for c in ledger.unmatched())
        cap = max(3 * plan.interval + 30, 1.2 * plan.sweep_every if reruns_open else 0)
        await _drain(ledger, cap)
        stop_ready.set()
        await ready
        async with session.get(base + "/metrics") as response:
            text = await response.text()
        observed.metrics.append((time.time(), text))
        observed.counted_until = time.time()
        for source in SOURCES:
            ok, failed = polls(text, source)
            observed.cycles[source] = ok + failed
            observed.cycle_errors[source] = failed
        observed.cpu = cpu_seconds(pid) - cpu_before
        observed.peak_rss_mb = status_kb(pid, "VmHWM") / 1024
    finally:
        stop_watching.set()
        await asyncio.gather(*watchers, return_exceptions=True)
        if daemon.process.returncode is None:
            await daemon.terminate(timeout=60)
        observed.stopped = time.time()
        await log.fetch()
        await receiver.stop()
    observed.daemon_log = read_log(folder / "daemon.log", observed.window[0])
    observed.warnings = observed.daemon_log.warnings
    return observed


async def _daemon_baselines(observed: Observed, db: Path, daemon: DaemonProcess) -> None:
    """Until each source had a successful poll and the store marks its baseline done."""
    deadline = time.time() + 1800
    metrics_only_since: float | None = None
    while time.time() < deadline:
        assert daemon.process is not None
        if daemon.process.returncode is not None:
            raise RuntimeError(f"the daemon exited: {daemon.log_text()[-2000:]}")
        text = observed.metrics[-1][1] if observed.metrics else ""
        for source in SOURCES:
            if source not in observed.baselines and polls(text, source)[0] >= 1:
                observed.baselines[source] = time.time()
        if len(observed.baselines) == len(SOURCES):
            if baseline_done(db, SOURCES):
                return
            # The store's schema may have moved on: the metrics alone decide after a minute.
            metrics_only_since = metrics_only_since or time.time()
            if time.time() - metrics_only_since > 60:
                return
        await asyncio.sleep(0.5)
    raise RuntimeError("no baseline after 30 minutes")


@dataclass
class DaemonLog:
    """What the daemon's JSON log tells: warnings by kind, and its sweeps, if it logs them."""

    warnings: Counter[str] = field(default_factory=Counter)
    sweeps_completed: Counter[str] = field(default_factory=Counter)
    sweep_spans: list[tuple[float, float]] = field(default_factory=list)
    sweep_found: int = 0
    baselines: dict[str, float] = field(default_factory=dict)


def read_log(path: Path, window_start: float) -> DaemonLog:
    found = DaemonLog()
    started: dict[str, float] = {}
    if not path.exists():
        return found
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        stamp = parse_ts(record.get("timestamp"))
        at = stamp.timestamp() if stamp is not None else 0.0
        event, source = str(record.get("event")), str(record.get("source"))
        if event == "sweep_started":
            started[source] = at
        elif event == "sweep_completed":
            found.sweeps_completed[source] += 1
            found.sweep_spans.append((started.pop(source, at), at))
        elif event == "sweep_found":
            found.sweep_found += 1
        elif event == "baseline_recorded":
            found.baselines.setdefault(source, at)
        if record.get("level") in ("warning", "error", "critical"):
            kind = re.sub(r"next run at: [^)]*\)", "...)", event)[:140]
            when = "after the baselines" if at >= window_start else "during the baselines"
            found.warnings[f"{record.get('level')} {when}: {kind}"] += 1
    found.sweep_spans += [(at, math.inf) for at in started.values()]
    return found


async def _run_naive(
    plan: RunPlan,
    control: SimControl,
    ledger: Ledger,
    log: RequestLog,
    folder: Path,
    rng: random.Random,
) -> Observed:
    observed = Observed(plan, "none (lists everything)", log_path=str(folder / "naive.log"))
    observed.naive_cycle_seconds = {s: [] for s in SOURCES}
    observed.self_counted = dict.fromkeys(SOURCES, 0)
    cycles: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    stop_watching = asyncio.Event()
    watcher = asyncio.create_task(log.follow(stop_watching, 3.0))
    with (folder / "naive.log").open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.naive_sdk",
            "--base-url",
            control.url,
            "--api-key",
            KEY,
            "--interval",
            f"{plan.interval:g}",
            cwd=str(REPO),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    observed.started = time.time()
    baselined = asyncio.Event()

    async def read() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            record = json.loads(line)
            kind, source = record["kind"], record.get("source", "")
            if kind == "baseline":
                observed.baselines[source] = float(record["t"])
                if len(observed.baselines) == len(SOURCES):
                    baselined.set()
            elif kind == "cycle":
                if not cycles[source]:
                    observed.naive_first_requests[source] = int(record["requests"])
                cycles[source] += 1
                observed.self_counted[source] += int(record["requests"])
                observed.naive_cycle_seconds[source].append(
                    float(record["ended"]) - float(record["started"])
                )
            elif kind == "error":
                errors[source] += 1
                observed.warnings[f"error: {record.get('error', '')[:80]}"] += 1
            elif kind == "detected":
                ledger.absorb(
                    Detection(
                        source,
                        str(record["job_id"]),
                        record.get("from_status"),
                        str(record["to_status"]),
                        float(record["t"]),
                        f"naive:{source}:{record['cycle']}:{record['job_id']}",
                    )
                )

    reader = asyncio.create_task(read())
    try:
        await asyncio.wait_for(baselined.wait(), 1800)
        print(
            "  baselines done after "
            + ", ".join(f"{s} {t - observed.started:.0f}s" for s, t in observed.baselines.items()),
            flush=True,
        )
        observed.cycles_at_baseline = dict.fromkeys(SOURCES, 1.0)  # the first listing
        cpu_before = cpu_seconds(process.pid)
        observed.window = await _changes(plan, control, ledger, rng, 3 * plan.interval)
        slowest = max(max(v, default=0.0) for v in observed.naive_cycle_seconds.values())
        await _drain(ledger, max(3 * plan.interval, 3 * slowest) + 30)
        observed.cpu = cpu_seconds(process.pid) - cpu_before
        observed.peak_rss_mb = status_kb(process.pid, "VmHWM") / 1024
        observed.cycles = {s: float(cycles[s]) for s in SOURCES}
        observed.cycle_errors = {s: float(errors[s]) for s in SOURCES}
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 120)
            except TimeoutError:
                process.kill()
                await process.wait()
        await reader
        stop_watching.set()
        await watcher
        observed.stopped = time.time()
        await log.fetch()
    return observed


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass
class Figures:
    poller: str
    interval: float
    sweep: str
    minutes: float
    cycles: dict[str, float]
    amortized: dict[str, float]
    steady: dict[str, float]
    baseline_requests: dict[str, int]
    sweep_requests: dict[str, int]
    sweep_passes: dict[str, int]
    projected: dict[str, float]
    baseline_seconds: dict[str, float]
    changes: int
    latency: dict[str, float]
    rerun_latency: dict[str, float]
    other_latency: dict[str, float]
    sweep_latency: dict[str, float]
    missing: int
    missing_reruns: int
    duplicate_ids: int
    duplicate_changes: int
    unexpected: int
    from_mismatch: int
    other_events: dict[str, int]
    ready_bad: int
    ready_bad_seconds: float
    ready_samples: int
    ready_examples: list[str]
    cpu_ms_per_cycle: float
    peak_rss_mb: float
    longest_poll_gap: dict[str, float]
    cycle_errors: dict[str, float]
    fallbacks: dict[str, int]
    kinds: dict[str, dict[str, float]]
    log_overflows: int
    self_counted: dict[str, int]
    warnings: dict[str, int]
    notes: list[str]


def stats(values: Iterable[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "p50": math.nan, "p95": math.nan, "max": math.nan}
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 0.50),
        "p95": percentile(ordered, 0.95),
        "max": ordered[-1],
    }


def sweep_spans(
    requests: list[Request], after: float, gap: float = 30.0
) -> list[tuple[float, float]]:
    """Time spans with sweep (or reconcile) requests in flight, of any source."""
    spans: list[tuple[float, float]] = []
    for request in sorted(
        (r for r in requests if r.kind == "window" and r.ts > after), key=lambda r: r.ts
    ):
        if spans and request.ts - spans[-1][1] <= gap:
            spans[-1] = (spans[-1][0], request.ts)
        else:
            spans.append((request.ts, request.ts))
    return spans


def longest_gap(metrics: list[tuple[float, str]], source: str, after: float) -> float:
    """The longest time between two successful polls of `source` seen on /metrics (2 s grain)."""
    longest, last_change, last_value = 0.0, None, None
    for at, text in metrics:
        if at < after:
            continue
        value = polls(text, source)[0]
        if last_value is None or value != last_value:
            if last_change is not None:
                longest = max(longest, at - last_change)
            last_change, last_value = at, value
    if last_change is not None and metrics:
        longest = max(longest, metrics[-1][0] - last_change)
    return longest


def figures(observed: Observed, ledger: Ledger) -> Figures:
    plan = observed.plan
    daemon = plan.poller == "daemon"
    cycles = dict(observed.cycles)
    if not daemon:  # every listing it finished, the one under way at SIGTERM included
        cycles = {s: float(len(observed.naive_cycle_seconds.get(s, []))) for s in SOURCES}
    counted = [r for r in observed.requests if r.ts <= observed.counted_until]
    logged = observed.daemon_log
    baselines = dict(observed.baselines)
    at_baseline = dict(observed.cycles_at_baseline)
    if daemon:
        if logged is not None:
            baselines.update(logged.baselines)
        for source in SOURCES:
            # Cycles of the source when its own baseline was done (not when both were).
            first = next((t for t, text in observed.metrics if polls(text, source)[0] >= 1), None)
            sample = next((x for t, x in observed.metrics if first and t >= first), "")
            at_baseline[source] = sum(polls(sample, source))
    amortized, steady, baseline_requests, sweep_requests, passes, projected = {}, {}, {}, {}, {}, {}
    kinds: dict[str, dict[str, float]] = {}
    for source in SOURCES:
        mine = [r for r in counted if r.source == source]
        done = baselines.get(source, observed.stopped)
        base = [r for r in mine if r.kind == "window" and r.ts <= done + 0.5]
        later = [r for r in mine if r.ts > done + 0.5]
        swept = [r for r in later if r.kind == "window"]
        baseline_requests[source] = (
            len(base)
            if daemon
            else observed.naive_first_requests.get(source)
            or len([r for r in mine if r.ts <= done + 0.5])
        )
        sweep_requests[source] = len(swept) if daemon else 0
        passes[source] = sum(1 for r in swept if r.far_end) if daemon else 0
        if logged is not None and logged.sweep_spans:
            passes[source] = logged.sweeps_completed[source]
        amortized[source] = len(mine) / cycles[source] if cycles.get(source) else math.nan
        after = cycles.get(source, 0) - at_baseline.get(source, 0)
        cheap = [r for r in later if r.kind != "window"] if daemon else later
        by_kind = Counter(r.kind for r in later)
        kinds[source] = {k: n / after if after > 0 else math.nan for k, n in by_kind.items()}
        steady[source] = len(cheap) / after if after > 0 else math.nan
        if daemon:
            per_pass = (
                len(swept) / passes[source]
                if passes[source]
                else plan.sizes.window_jobs(source) / 100
            )
            projected[source] = (
                steady[source] + per_pass * plan.interval / DEFAULT_SWEEP.total_seconds()
            )
        else:
            projected[source] = steady[source]
    window_start = observed.window[0]
    spans = sweep_spans(observed.requests, window_start) if daemon else []
    if logged is not None and logged.sweep_spans:
        spans = logged.sweep_spans

    def during_sweep(change: Change) -> bool:
        return any(a <= change.made <= b for a, b in spans)

    seen = [c for c in ledger.changes if c.detected is not None]
    latency = stats(c.detected - c.made for c in seen if c.detected is not None)
    reruns = stats(
        c.detected - c.made for c in seen if c.kind == "rerun" and c.detected is not None
    )
    others = stats(
        c.detected - c.made for c in seen if c.kind != "rerun" and c.detected is not None
    )
    swept_latency = stats(
        c.detected - c.made for c in seen if during_sweep(c) and c.detected is not None
    )
    matched = {(c.job_id, c.to_status) for c in seen}
    orphans = [d for found in ledger.orphans.values() for d in found]
    duplicate_changes = sum(1 for d in orphans if (d.job_id, d.to_status) in matched)
    ready_after = [r for r in observed.ready]
    bad = [(i, r) for i, r in enumerate(ready_after) if r[1] != 200]
    bad_seconds = 0.0
    for i, (at, _, _) in bad:
        following = ready_after[i + 1][0] if i + 1 < len(ready_after) else at + 0.5
        bad_seconds += following - at
    examples = []
    for at, status, body in [r for _, r in bad][:3]:
        examples.append(f"{at - window_start:+.1f}s: {status} {body[:160]}")
    # CPU was read when `observed.cycles` was: before SIGTERM.
    cycles_after = [
        observed.cycles.get(s, 0) - observed.cycles_at_baseline.get(s, 0) for s in SOURCES
    ]
    mean_cycles = sum(cycles_after) / len(cycles_after)
    notes: list[str] = []
    if daemon and min(passes.values(), default=0) < 2:
        notes.append(
            "fewer than two sweep passes reached the lookback's far end: "
            + ", ".join(f"{s} {n}" for s, n in passes.items())
        )
    if observed.log_overflows:
        notes.append(f"the simulator's request log overflowed {observed.log_overflows} times")
    if daemon and plan.rate != DEFAULT_RATE:
        need = sum(steady.values()) / plan.interval
        notes.append(
            f"llamacloud.max_requests_per_second {plan.rate:g} instead of the default "
            f"{DEFAULT_RATE:g}: the steady cycles of the two sources alone ask "
            f"{need:.1f} requests a second at this interval, so the default would leave "
            "the sweeps nothing and stretch every cycle (README, 'One request budget')"
        )
    missing = ledger.unmatched()
    return Figures(
        poller=(
            ("notifier" if plan.rate == DEFAULT_RATE else f"notifier at {plan.rate:g} req/s")
            if daemon
            else "naive (llama-cloud SDK)"
        ),
        interval=plan.interval,
        sweep=observed.sweep,
        minutes=plan.minutes,
        cycles=dict(cycles),
        amortized=amortized,
        steady=steady,
        baseline_requests=baseline_requests,
        sweep_requests=sweep_requests,
        sweep_passes=passes,
        projected=projected,
        baseline_seconds={s: t - observed.started for s, t in baselines.items()},
        changes=len(ledger.changes),
        latency=latency,
        rerun_latency=reruns,
        other_latency=others,
        sweep_latency=swept_latency,
        missing=len(missing),
        missing_reruns=sum(1 for c in missing if c.kind == "rerun"),
        duplicate_ids=sum(n - 1 for n in ledger.ids.values() if n > 1),
        duplicate_changes=duplicate_changes,
        unexpected=len(orphans) - duplicate_changes,
        from_mismatch=sum(1 for c in seen if c.detected_from != c.from_status),
        other_events=dict(ledger.other_types),
        ready_bad=len(bad),
        ready_bad_seconds=bad_seconds,
        ready_samples=len(observed.ready),
        ready_examples=examples,
        cpu_ms_per_cycle=observed.cpu * 1000 / mean_cycles if mean_cycles else math.nan,
        peak_rss_mb=observed.peak_rss_mb,
        longest_poll_gap={s: longest_gap(observed.metrics, s, window_start) for s in SOURCES}
        if daemon
        else {s: max(observed.naive_cycle_seconds.get(s, [0.0]), default=0.0) for s in SOURCES},
        cycle_errors=dict(observed.cycle_errors),
        fallbacks=dict(ledger.fallbacks),
        kinds=kinds,
        log_overflows=observed.log_overflows,
        self_counted=dict(observed.self_counted),
        warnings=dict(observed.warnings.most_common(8)),
        notes=notes,
    )


# ---------------------------------------------------------------------------------------------
# Report


def _n(value: float, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def _pair(values: dict[str, float], digits: int = 1) -> str:
    return " / ".join(_n(values.get(s, math.nan), digits) for s in SOURCES)


def _ipair(values: dict[str, int]) -> str:
    return " / ".join(f"{values.get(s, 0):,}" for s in SOURCES)


def _lat(values: dict[str, float]) -> str:
    if not values.get("n"):
        return "-"
    return f"{values['p50']:.2f} / {values['p95']:.2f} / {values['max']:.2f}"


def tables(runs: list[Figures]) -> str:
    lines = [
        "Requests per cycle per source (extract_v2 / parse_v2), from the simulator's request log:",
        "",
        "| interval | poller | safety net | cycles | amortized over the run | steady cycle "
        "| baseline requests | sweep requests (passes) | projected at sweep_every 6h |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in runs:
        swept = (
            f"{_ipair(f.sweep_requests)} ({_ipair(f.sweep_passes)})" if f.sweep_requests else "-"
        )
        lines.append(
            f"| {f.interval:g} s | {f.poller} | {f.sweep} | {_pair(f.cycles, 0)} "
            f"| {_pair(f.amortized)} | {_pair(f.steady)} | {_ipair(f.baseline_requests)} "
            f"| {swept} | {_pair(f.projected) if f.sweep_requests else '-'} |"
        )
    lines += [
        "",
        "Detection latency in seconds (p50 / p95 / max): the bench's change in the simulator -> "
        "the verified webhook (notifier) or the poller's detection (naive); exactly once:",
        "",
        "| interval | poller | changes | all changes | all but re-runs | re-runs (count) "
        "| during sweeps | missing | duplicate webhook-ids | duplicate deliveries of a change "
        "| unexpected |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in runs:
        lines.append(
            f"| {f.interval:g} s | {f.poller} | {f.changes:,} | {_lat(f.latency)} "
            f"| {_lat(f.other_latency)} | {_lat(f.rerun_latency)} ({f.rerun_latency['n']:.0f}) "
            f"| {_lat(f.sweep_latency)} | {f.missing} ({f.missing_reruns} re-runs) "
            f"| {f.duplicate_ids} | {f.duplicate_changes} | {f.unexpected} |"
        )
    lines += [
        "",
        "The process (after the baselines):",
        "",
        "| interval | poller | baseline s | /readyz not 200 | CPU ms per cycle "
        "| peak RSS MB | longest gap between polls s | failed cycles |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in runs:
        ready = (
            f"{f.ready_bad} of {f.ready_samples} ({f.ready_bad_seconds:.1f} s)"
            if f.ready_samples
            else "-"
        )
        lines.append(
            f"| {f.interval:g} s | {f.poller} | {_pair(f.baseline_seconds, 0)} | {ready} "
            f"| {_n(f.cpu_ms_per_cycle)} | {f.peak_rss_mb:.0f} | {_pair(f.longest_poll_gap)} "
            f"| {_pair(f.cycle_errors, 0)} |"
        )
    return "\n".join(lines)


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def targets(runs: list[Figures], full_size: bool) -> str:
    lines = ["| target | interval | figure | result |", "| --- | ---: | --- | --- |"]
    naive = {f.interval: f for f in runs if not f.poller.startswith("notifier")}
    for f in (r for r in runs if r.poller.startswith("notifier")):
        i = f.interval
        size = "" if full_size else " (not at 100k: a --quick run)"
        worst = max(f.amortized.values())
        lines.append(
            f"| <= {TARGET_REQUESTS:g} requests/cycle per v2 source, amortized{size} | {i:g} s "
            f"| {_pair(f.amortized)} over this run ({f.sweep}, baseline included) "
            f"| {_verdict(worst <= TARGET_REQUESTS)} |"
        )
        lines.append(
            f"| same, projected at the default sweep_every 6h | {i:g} s | {_pair(f.projected)} "
            f"| {_verdict(max(f.projected.values()) <= TARGET_REQUESTS)} |"
        )
        p95, top = f.latency["p95"], f.latency["max"]
        missing = f" ({f.missing} never delivered)" if f.missing else ""
        lines.append(
            f"| latency p95 <= 1.5 x interval ({1.5 * i:g} s) | {i:g} s | {p95:.2f} s "
            f"| {_verdict(p95 <= 1.5 * i and not f.missing)} |"
        )
        lines.append(
            f"| latency max <= 3 x interval ({3 * i:g} s) | {i:g} s | {top:.2f} s{missing} "
            f"| {_verdict(top <= 3 * i and not f.missing)} |"
        )
        rest = f.other_latency
        lines.append(
            f"| (reference, not a target) the same without re-runs | {i:g} s "
            f"| p95 {rest['p95']:.2f} s, max {rest['max']:.2f} s "
            f"| p95 {_verdict(rest['p95'] <= 1.5 * i)}, max {_verdict(rest['max'] <= 3 * i)} |"
        )
        other = naive.get(i)
        if other is not None:
            lower = p95 < other.latency["p95"] and top < other.latency["max"]
            lines.append(
                f"| latency lower than the naive poller's | {i:g} s | p95 {p95:.2f} vs "
                f"{other.latency['p95']:.2f} s, max {top:.2f} vs {other.latency['max']:.2f} s "
                f"| {_verdict(lower and not f.missing)} |"
            )
        lines.append(
            f"| /readyz never non-200 after the baselines | {i:g} s | {f.ready_bad} answers "
            f"({f.ready_bad_seconds:.1f} s) | {_verdict(f.ready_bad == 0)} |"
        )
        lines.append(
            f"| peak RSS <= {TARGET_RSS_MB:g} MB | {i:g} s | {f.peak_rss_mb:.0f} MB "
            f"| {_verdict(f.peak_rss_mb <= TARGET_RSS_MB)} |"
        )
        once = f.missing == 0 and f.duplicate_ids == 0 and f.duplicate_changes == 0
        lines.append(
            f"| every change delivered exactly once | {i:g} s | {f.changes:,} changes, "
            f"{f.missing} missing, {f.duplicate_ids + f.duplicate_changes} duplicates, "
            f"{f.unexpected} unexpected | {_verdict(once and f.unexpected == 0)} |"
        )
    return "\n".join(lines)


def details(runs: list[Figures]) -> str:
    """What does not fit the tables: notes, warnings, examples of /readyz answers."""
    lines = []
    for f in runs:
        extra = []
        extra += f.notes
        if f.poller.startswith("notifier"):
            extra.append(
                "requests per cycle after the baselines, by kind: "
                + "; ".join(
                    f"{s} "
                    + ", ".join(f"{k} {v:.1f}" for k, v in sorted(f.kinds.get(s, {}).items()))
                    for s in SOURCES
                )
            )
        if f.ready_examples:
            extra.append("/readyz: " + "; ".join(f.ready_examples))
        if f.warnings:
            extra.append("log: " + ", ".join(f"{k} x{v}" for k, v in f.warnings.items()))
        if f.fallbacks:
            extra.append(f"changes without an eligible job (made a new one): {f.fallbacks}")
        if f.from_mismatch:
            extra.append(f"{f.from_mismatch} changes reported with another from_status")
        if f.other_events:
            extra.append(f"other events: {f.other_events}")
        if f.self_counted:
            extra.append(f"requests by its own count: {_ipair(f.self_counted)}")
        if extra:
            lines.append(f"- {f.interval:g} s, {f.poller}: " + "; ".join(extra))
    return "\n".join(lines)


def record(text: str, command: str, minutes: str) -> None:
    from bench.__main__ import DOC, machine, replace_section

    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    stamp = f"Measured {time.strftime('%Y-%m-%d')} on {machine()}: {minutes}."
    body = f"{stamp} Reproduce with `{command}`.\n\n{text}"
    DOC.write_text(replace_section(doc, TITLE, body))
    print(f"\nwritten to {DOC}")


# ---------------------------------------------------------------------------------------------
# Command line


def default_sweep(sizes: Sizes, interval: float, quick: bool) -> int:
    """Seconds: the suggested period (3m at 2 s, 5m at 30 s), but never shorter than a pass
    can take at the default budget (sweeps at most half of 10 requests a second), plus 20 %."""
    pages = sum(math.ceil(sizes.window_jobs(s) / 100) for s in SOURCES)
    fastest = pages / (DEFAULT_RATE * SWEEP_SHARE) * 1.2
    if quick:
        return max(30, math.ceil(fastest / 10) * 10)
    suggested = 180 if interval < 10 else 300
    return max(suggested, math.ceil(fastest / 60) * 60)


def run_case(plan: RunPlan, keep: Path | None) -> Figures:
    print(f"{plan.poller} at {plan.interval:g}s: {plan.minutes:g} minutes of changes", flush=True)
    folder = Path(tempfile.mkdtemp(prefix=f"scale-{plan.poller}-{plan.interval:g}s-", dir=keep))
    sim = SimProcess()
    try:
        observed, ledger = asyncio.run(measure(plan, sim, folder))
    finally:
        sim.close()
    if keep is not None:  # for --replay: the figures again, from what this run collected
        (folder / "run.pickle").write_bytes(pickle.dumps((observed, ledger)))
    result = figures(observed, ledger)
    print(tables([result]), flush=True)
    print(details([result]), flush=True)
    if keep is None:
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        folder.rmdir()
    else:
        print(f"  kept {folder}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The scale benchmark (see the module docstring).")
    parser.add_argument("--interval", choices=["2", "30", "both"], default="both")
    parser.add_argument("--minutes", type=float, help="minutes of changes after the baselines")
    parser.add_argument("--naive-minutes", type=float, help="the same for the naive poller")
    parser.add_argument("--sweep-every", help="the daemon's sweep period, e.g. 5m")
    parser.add_argument("--quick", action="store_true", help="7,575 jobs, 1 minute: a smoke run")
    parser.add_argument(
        "--rate",
        type=float,
        help="the daemon's llamacloud.max_requests_per_second (default: 20 at 2 s, where the "
        "cheap cycles alone ask about 11 a second, else the daemon's default of 10)",
    )
    parser.add_argument("--only", choices=["daemon", "naive"], help="run one poller only")
    parser.add_argument("--keep", type=Path, help="keep each run's folder (logs, db) under this")
    parser.add_argument("--record", action="store_true", help="write the section to the docs")
    parser.add_argument(
        "--replay", type=Path, nargs="+", help="recompute the figures from kept run.pickle files"
    )
    parser.add_argument("--command", help="with --replay --record: the commands of the runs")
    args = parser.parse_args(argv)
    if args.replay:
        replayed = [figures(*_load(path)) for path in args.replay]
        text = "\n\n".join(
            (tables(replayed), "Targets (the notifier's figures):", targets(replayed, True))
            + ((details(replayed),) if details(replayed) else ())
        )
        print(text)
        if args.record:
            replay_spans = ", ".join(
                f"{'daemon' if f.poller.startswith('notifier') else 'naive'} {f.minutes:g} min "
                f"at {f.interval:g} s"
                for f in replayed
            )
            record(f"{SIZING}.\n\n{text}", args.command or "python -m bench.scale", replay_spans)
        return 0
    sizes = QUICK if args.quick else FULL
    intervals = [2.0, 30.0] if args.interval == "both" else [float(args.interval)]
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    runs: list[Figures] = []
    spans: list[str] = []
    started = time.time()
    for interval in intervals:
        sweep = (
            _seconds(args.sweep_every)
            if args.sweep_every
            else default_sweep(sizes, interval, args.quick)
        )
        minutes = args.minutes or (1.0 if args.quick else (2 * sweep + 60) / 60)
        naive_minutes = args.naive_minutes or min(minutes, 1.0 if args.quick else 5.0)
        for poller, length in (("daemon", minutes), ("naive", naive_minutes)):
            if args.only and poller != args.only:
                continue
            rate = args.rate or (SHORT_INTERVAL_RATE if interval < 10 else DEFAULT_RATE)
            plan = RunPlan(poller, interval, length, sweep, sizes, rate=rate)
            runs.append(run_case(plan, args.keep))
            spans.append(f"{poller} {length:g} min at {interval:g} s")
    text = "\n\n".join(
        part
        for part in (
            tables(runs),
            "Targets (the notifier's figures):",
            targets(runs, not args.quick),
            details(runs),
        )
        if part
    )
    sizing = _sizing(sizes)
    print(f"\n{sizing}\n\n{text}\n\nin {(time.time() - started) / 60:.0f} minutes")
    if args.record:
        command = "python -m bench.scale " + shlex.join(argv if argv is not None else sys.argv[1:])
        record(f"{sizing}.\n\n{text}", command.strip(), ", ".join(spans))
    return 0


def _sizing(sizes: Sizes) -> str:
    return (
        f"{sizes.finished['extract_v2']:,} finished + {sizes.running['extract_v2']:,} running "
        f"extract_v2 jobs, {sizes.finished['parse_v2']:,} + {sizes.running['parse_v2']:,} "
        "parse_v2 jobs in the lookback window; per interval and source 10 changes and one new job"
    )


SIZING = _sizing(FULL)


def _load(path: Path) -> tuple[Observed, Ledger]:
    """A kept run; fields added to `Observed` since it was written get their defaults."""
    observed, ledger = pickle.loads(path.read_bytes())
    for item in dataclasses.fields(Observed):
        if item.name in vars(observed):
            continue
        if item.default_factory is not dataclasses.MISSING:
            setattr(observed, item.name, item.default_factory())
        elif item.default is not dataclasses.MISSING:
            setattr(observed, item.name, item.default)
    return observed, ledger


def _seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1] in units:
        return round(float(text[:-1]) * units[text[-1]])
    return round(float(text))


if __name__ == "__main__":
    sys.exit(main())
