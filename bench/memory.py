"""Peak RSS of one cycle with 1,000,000 jobs in the snapshot, 10,000 of them still running,
and of a baseline listing of a lookback window of 100,000 of those jobs.

The snapshot is written by one child process, each cycle runs in another, so each peak is the
cycle's own (VmHWM of a fresh process); the simulator runs in a third.
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
WINDOW = 100_000  # jobs the simulator holds, all inside the lookback window


def populate(path: Path, active_ids: list[str], finished_ids: list[str]) -> None:
    """990,000 finished and 10,000 running rows, streamed in batches (little memory); the
    simulator's own finished jobs are among the finished rows, the rest are older ones."""
    from notifier.core.timestamps import format_ts
    from notifier.store.db import Store

    store = Store(path)
    now = datetime.now(UTC)
    stamp = format_ts(now - timedelta(hours=2))
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO jobs VALUES ('extract_v2', ?, 'COMPLETED', NULL, ?, ?, ?, 1, 0, 1, '')",
            ((job_id, stamp, stamp, stamp) for job_id in finished_ids),
        )
    finished = SNAPSHOT - len(active_ids) - len(finished_ids)
    for start in range(0, finished, 50_000):
        with store.transaction() as conn:
            conn.executemany(
                "INSERT INTO jobs VALUES (?, ?, 'COMPLETED', 'prj', ?, ?, ?, 1, 0, 1, '')",
                (
                    ("extract_v2", f"ext-done-{n:012d}", stamp, stamp, stamp)
                    for n in range(start, min(start + 50_000, finished))
                ),
            )
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO jobs VALUES ('extract_v2', ?, 'RUNNING', NULL, ?, ?, ?, 1, 0, 0, '')",
            ((job_id, stamp, stamp, stamp) for job_id in active_ids),
        )
        conn.execute(
            "INSERT INTO source_state (name, scope, baseline_done, watermark, cycles) "
            "VALUES ('extract_v2', '', 1, ?, 1)",
            (format_ts(now),),
        )
    store.close()


def cycle(path: Path, url: str, key: str, baseline: bool) -> dict[str, float]:
    """One steady cycle, or a baseline (the first listing of the whole lookback window, the
    longest listing a cycle makes); its figures including the process's peak RSS."""
    import resource

    from notifier.core.rules import Rule, When
    from notifier.llamacloud.client import LlamaCloudClient
    from notifier.polling.poller import Poller, PollOptions, PollTarget
    from notifier.store.db import Store

    async def once() -> dict[str, float]:
        store = Store(path)
        if baseline:  # a scope with no state yet lists its whole window
            with store.transaction() as conn:
                conn.execute("DELETE FROM source_state")
        async with LlamaCloudClient(url, key, max_requests_per_second=100_000) as client:
            poller = Poller(
                client,
                store,
                [Rule("all", When(), ("hook",))],
                PollOptions(),
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


def run() -> dict[str, dict[str, float]]:
    from bench.simproc import KEY, SimProcess

    sim = SimProcess()
    try:
        sim.bulk(ACTIVE, status="RUNNING")
        sim.bulk(WINDOW - ACTIVE, status="COMPLETED")
        active = sim.job_ids("RUNNING")
        finished = sim.job_ids("COMPLETED")
        for job_id in active[:100]:
            sim.set_status(job_id, "COMPLETED")
        with tempfile.TemporaryDirectory() as folder:
            db = Path(folder) / "memory.db"
            ids_file = Path(folder) / "ids.json"
            ids_file.write_text(json.dumps([active, finished]))
            subprocess.run(
                [sys.executable, "-m", "bench.memory", "populate", str(db), str(ids_file)],
                check=True,
            )
            size_mb = db.stat().st_size / 2**20
            results: dict[str, dict[str, float]] = {}
            for kind in ("steady", "baseline"):
                out = subprocess.run(
                    [sys.executable, "-m", "bench.memory", kind, str(db), sim.url, KEY],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                results[kind] = json.loads(out.strip().splitlines()[-1])
                results[kind]["db_mb"] = size_mb
            return results
    finally:
        sim.close()


def report(results: dict[str, dict[str, float]]) -> str:
    lines = [
        "| cycle | snapshot rows | running | listed | requests | events | cycle s | database MB "
        "| peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, f in results.items():
        lines.append(
            f"| {kind} | {SNAPSHOT:,} | {ACTIVE:,} | {f['observed']:,.0f} | {f['requests']:.0f} "
            f"| {f['events']:.0f} | {f['seconds']:.2f} | {f['db_mb']:.0f} "
            f"| {f['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["populate"]:
        populate(Path(sys.argv[2]), *json.loads(Path(sys.argv[3]).read_text()))
    elif sys.argv[1:2] in (["steady"], ["baseline"]):
        import logging

        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        baseline = sys.argv[1] == "baseline"
        print(json.dumps(cycle(Path(sys.argv[2]), sys.argv[3], sys.argv[4], baseline)))
    else:
        print(report(run()))
