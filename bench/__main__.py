"""`make bench`: every benchmark, its figures printed and written to docs/benchmarks.md."""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import structlog

from bench import ingest, memory, poll_cost

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"{memory_gb:.0f} GiB, Python {platform.python_version()}"
    )


def main() -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    started = time.perf_counter()
    sections = []
    print(
        "poll cost (this takes a few minutes: the naive poller at 100k is slow by design)...",
        flush=True,
    )
    cost = poll_cost.report(poll_cost.run())
    print(cost, flush=True)
    sections.append(("Poll cost per steady-state cycle", poll_cost.__doc__ or "", cost))
    print("ingest...", flush=True)
    rates = ingest.report(ingest.run())
    print(rates, flush=True)
    sections.append(("Ingest", ingest.__doc__ or "", rates))
    print("memory...", flush=True)
    peak = memory.report(memory.run())
    print(peak, flush=True)
    sections.append(("Memory", memory.__doc__ or "", peak))
    elapsed = time.perf_counter() - started
    body = [
        "# Benchmarks",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}, in {elapsed:.0f} s.",
        "Reproduce with `make bench` (`python -m bench`); it rewrites this file.",
        "",
    ]
    for title, doc, table in sections:
        body += [f"## {title}", "", " ".join(doc.split()), "", table, ""]
    notes = Path(__file__).resolve().parent / "NOTES.md"
    if notes.exists():
        body += [notes.read_text().strip(), ""]
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(body))
    print(f"\nwritten to {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
