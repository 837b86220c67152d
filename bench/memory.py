"""Peak RSS of one cycle with 1,000,000 jobs in the snapshot, 10,000 of them still running.

The snapshot is written by one child process, the cycle runs in another, so the peak is the
cycle's own (`ru_maxrss` of a fresh process); the simulator runs in a third.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

SNAPSHOT = 1_000_000
ACTIVE = 10_000


def populate(path: Path, active_ids: list[str]) -> None:
    """990,000 finished and 10,000 running rows, streamed in batches (little memory)."""
    from notifier.core.timestamps import format_ts
    from notifier.store import Store

    store = Store(path)
    now = datetime.now(UTC)
    stamp = format_ts(now - timedelta(hours=2))
    finished = SNAPSHOT - len(active_ids)
    for start in range(0, finished, 50_000):
        with store.transaction() as conn:
            conn.executemany(
                "INSERT INTO jobs VALUES (?, ?, 'COMPLETED', 'prj', ?, ?, ?, 1, 0, 1)",
                (
                    ("extract_v2", f"ext-done-{n:012d}", stamp, stamp, stamp)
                    for n in range(start, min(start + 50_000, finished))
                ),
            )
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO jobs VALUES ('extract_v2', ?, 'RUNNING', NULL, ?, ?, ?, 1, 0, 0)",
            ((job_id, stamp, stamp, stamp) for job_id in active_ids),
        )
        conn.execute(
            "INSERT INTO source_state (name, scope, baseline_done, watermark, cycles) "
            "VALUES ('extract_v2', '', 1, ?, 1)",
            (format_ts(now),),
        )
    store.close()


def cycle(path: Path, url: str, key: str) -> dict[str, float]:
    """One steady cycle; returns its figures including the process's peak RSS."""
    import resource

    from notifier.core.rules import Rule, When
    from notifier.llamacloud.client import LlamaCloudClient
    from notifier.poller import Poller, PollOptions, PollTarget
    from notifier.store import Store

    async def once() -> dict[str, float]:
        store = Store(path)
        async with LlamaCloudClient(url, key, max_requests_per_second=100_000) as client:
            poller = Poller(
                client,
                store,
                [Rule("all", When(), ("hook",))],
                PollOptions(reconcile_every=1_000_000),
                clock=lambda: datetime.now(UTC),
            )
            started = time.perf_counter()
            result = await poller.poll(PollTarget(name="extract_v2", source="extract_v2", scope=""))
            seconds = time.perf_counter() - started
        store.close()
        return {
            "observed": result.observed,
            "events": len(result.events),
            "requests": result.requests,
            "seconds": seconds,
        }

    figures = asyncio.run(once())
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak over exec.
    status = Path("/proc/self/status")
    if status.exists():
        hwm = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM"))
        figures["peak_rss_mb"] = int(hwm.split()[1]) / 1024
    else:
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def run() -> dict[str, float]:
    from bench.simproc import KEY, SimProcess

    sim = SimProcess()
    try:
        sim.bulk(ACTIVE, status="RUNNING")
        active = sim.job_ids("RUNNING")
        for job_id in active[:100]:
            sim.set_status(job_id, "COMPLETED")
        with tempfile.TemporaryDirectory() as folder:
            db = Path(folder) / "memory.db"
            ids_file = Path(folder) / "ids.json"
            ids_file.write_text(json.dumps(active))
            subprocess.run(
                [sys.executable, "-m", "bench.memory", "populate", str(db), str(ids_file)],
                check=True,
            )
            size_mb = db.stat().st_size / 2**20
            out = subprocess.run(
                [sys.executable, "-m", "bench.memory", "cycle", str(db), sim.url, KEY],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
            figures["db_mb"] = size_mb
            return figures
    finally:
        sim.close()


def report(figures: dict[str, float]) -> str:
    return (
        "| snapshot rows | running | requests | events | cycle s | database MB | peak RSS MB |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        f"| {SNAPSHOT:,} | {ACTIVE:,} | {figures['requests']:.0f} | {figures['events']:.0f} "
        f"| {figures['seconds']:.2f} | {figures['db_mb']:.0f} | {figures['peak_rss_mb']:.0f} |"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["populate"]:
        populate(Path(sys.argv[2]), json.loads(Path(sys.argv[3]).read_text()))
    elif sys.argv[1:2] == ["cycle"]:
        import logging

        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        print(json.dumps(cycle(Path(sys.argv[2]), sys.argv[3], sys.argv[4])))
    else:
        print(report(run()))
