"""Soak: transitions at 50 per second for a while; the daemon's RSS and open file descriptors
are sampled every 5 s. After a warm-up (the first fifth), neither may grow more than 10 %.

`make soak` (`python -m bench.soak --minutes 10 --record`) is the full run and records its
table in docs/benchmarks.md; `make bench` runs 2 minutes and keeps that table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from bench.latency import start_daemon, write_config
from bench.simproc import SimProcess
from bench.throughput import start_sink

RATE = 50
SAMPLE_EVERY = 5.0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def run(minutes: float = 2.0) -> dict[str, float]:
    sim = SimProcess()
    sink, sink_url = start_sink()
    samples: list[tuple[float, float, int]] = []
    transitions = 0
    with tempfile.TemporaryDirectory() as folder:
        daemon = start_daemon(write_config(Path(folder), sim.url, sink_url))
        stop = threading.Event()

        def sampler() -> None:
            while not stop.wait(SAMPLE_EVERY):
                samples.append((time.time(), _rss_mb(daemon.pid), _fds(daemon.pid)))

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        try:
            live: list[tuple[str, str]] = []
            deadline = time.time() + minutes * 60
            tick = time.time()
            while time.time() < deadline:
                # A job's life: created PENDING, then RUNNING, then COMPLETED: three transitions.
                if len(live) < 30:
                    live.append((sim.create("PENDING"), "PENDING"))
                else:
                    job, status = live.pop(0)
                    nxt = "RUNNING" if status == "PENDING" else "COMPLETED"
                    sim.set_status(job, nxt)
                    if nxt == "RUNNING":
                        live.append((job, nxt))
                transitions += 1
                tick += 1 / RATE
                time.sleep(max(0.0, tick - time.time()))
        finally:
            stop.set()
            thread.join()
            daemon.terminate()
            daemon.wait(timeout=30)
            sink.terminate()
            sim.close()
    warm = max(1, len(samples) // 5)
    base_rss, base_fds = samples[warm][1], samples[warm][2]
    tail = samples[-max(1, len(samples) // 4) :]
    end_rss = sum(s[1] for s in tail) / len(tail)
    end_fds = sum(s[2] for s in tail) / len(tail)
    return {
        "minutes": minutes,
        "transitions": transitions,
        "rate": transitions / (minutes * 60),
        "rss_after_warmup": base_rss,
        "rss_end": end_rss,
        "rss_growth": (end_rss - base_rss) / base_rss * 100,
        "fds_after_warmup": base_fds,
        "fds_end": end_fds,
        "fds_growth": (end_fds - base_fds) / base_fds * 100,
    }


def report(f: dict[str, float]) -> str:
    return (
        "| minutes | transitions/s | RSS after warm-up MB | RSS at end MB | growth "
        "| fds after warm-up | fds at end | growth |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        f"| {f['minutes']:g} | {f['rate']:.0f} | {f['rss_after_warmup']:.1f} | {f['rss_end']:.1f} "
        f"| {f['rss_growth']:+.1f} % | {f['fds_after_warmup']:.0f} | {f['fds_end']:.0f} "
        f"| {f['fds_growth']:+.1f} % |"
    )


RECORDED = "Soak, 10 minutes (`make soak`)"


def record(table: str, minutes: float) -> None:
    """Put this run's table in docs/benchmarks.md as the section `make bench` keeps."""
    from bench.__main__ import DOC, machine, replace_section

    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    stamp = f"Measured {time.strftime('%Y-%m-%d')} on {machine()}: {minutes:g} minutes."
    DOC.write_text(replace_section(text, RECORDED, f"{stamp}\n\n{table}"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--record", action="store_true", help="write the table to the docs")
    args = parser.parse_args()
    table = report(run(args.minutes))
    print(table)
    if args.record:
        record(table, args.minutes)
