"""Detection latency: a status change in the simulator -> the webhook received, at a 1 s
interval. Simulator, daemon and receiver run as separate processes; the ideal poller would
average half an interval (0.5 s)."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.simproc import KEY, SimProcess
from bench.throughput import start_sink

JOBS = 120
TRANSITIONS = 240
SPREAD_SECONDS = 48


def write_config(folder: Path, sim_url: str, sink_url: str, interval: str = "1s") -> Path:
    config = {
        "llamacloud": {
            "base_url": sim_url,
            "api_key": "${BENCH_KEY}",
            "max_requests_per_second": 200,
        },
        "store": {"path": str(folder / "bench.db")},
        "polling": {"interval": interval, "lookback": "1d", "overlap": "1m"},
        "sources": [{"type": "extract_v2"}],
        "channels": {"sink": {"type": "webhook", "url": sink_url}},
        "rules": [{"name": "all", "notify": ["sink"]}],
        "http": {"enabled": False},
        "log": {"level": "warning", "format": "json"},
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(config))
    return path


def start_daemon(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "notifier", "run", "--config", str(config)],
        env={**os.environ, "BENCH_KEY": KEY},
        stderr=subprocess.DEVNULL,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run() -> dict[str, float]:
    sim = SimProcess()
    sink, sink_url = start_sink()
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as folder:
        daemon = start_daemon(write_config(Path(folder), sim.url, sink_url))
        try:
            jobs = [sim.create("PENDING") for _ in range(JOBS)]
            time.sleep(4)  # baseline and first sightings
            changed: dict[str, float] = {}
            plan = sorted(rng.uniform(0, SPREAD_SECONDS) for _ in range(TRANSITIONS))
            order = rng.sample(jobs, len(jobs)) * 2
            start = time.time()
            for offset, job in zip(plan, order, strict=False):
                time.sleep(max(0.0, start + offset - time.time()))
                status = "COMPLETED" if f"{job}|RUNNING" in changed else "RUNNING"
                sim.set_status(job, status)
                changed[f"{job}|{status}"] = time.time()
            time.sleep(5)
            with urllib.request.urlopen(sink_url + "times", timeout=30) as response:
                arrivals = json.loads(response.read())
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
            sink.terminate()
            sim.close()
    latencies = [arrivals[k] - t for k, t in changed.items() if k in arrivals]
    return {
        "samples": len(latencies),
        "missing": len(changed) - len(latencies),
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "mean": statistics.mean(latencies),
    }


def report(f: dict[str, float]) -> str:
    return (
        "| interval | samples | p50 s | p95 s | p99 s | mean s "
        "| overhead beyond ideal (mean - 0.5 s) |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        f"| 1 s | {f['samples']:.0f} | {f['p50']:.3f} | {f['p95']:.3f} | {f['p99']:.3f} "
        f"| {f['mean']:.3f} | {f['mean'] - 0.5:+.3f} |"
    )


if __name__ == "__main__":
    print(report(run()))
