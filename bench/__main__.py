"""`make bench`: every benchmark, its figures printed and written to docs/benchmarks.md."""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import structlog

from bench import (
    dashboard,
    ingest,
    latency,
    match,
    memory,
    poll_cost,
    push,
    scale,
    soak,
    startup,
    throughput,
)

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


def _section(text: str, title: str) -> tuple[int, int, int] | None:
    """Where the `## title` section starts, where its body starts, and where it ends."""
    header = f"## {title}\n"
    start = text.find(header)
    if start < 0:
        return None
    end = text.find("\n## ", start + len(header))
    return start, start + len(header), len(text) if end < 0 else end + 1


def replace_section(text: str, title: str, content: str) -> str:
    """`text` with the `## title` section's body set to `content` (appended if absent)."""
    block = f"## {title}\n\n{content.strip()}\n\n"
    found = _section(text, title)
    if found is None:
        return text.rstrip() + "\n\n" + block
    return text[: found[0]] + block + text[found[2] :]


def kept_section(title: str) -> str | None:
    """The body of a section another command records (the 10-minute soak), if there is one."""
    text = DOC.read_text() if DOC.exists() else ""
    found = _section(text, title)
    return None if found is None else text[found[1] : found[2]].strip()


def main() -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    started = time.perf_counter()
    sections = []
    steps: list[tuple[str, ModuleType, Callable[[], str]]] = [
        ("Poll cost per steady-state cycle", poll_cost, lambda: poll_cost.report(poll_cost.run())),
        ("Ingest", ingest, lambda: ingest.report(ingest.run())),
        (match.TITLE, match, lambda: match.report(match.run())),
        ("Memory", memory, lambda: memory.report(memory.run())),
        ("Start-up", startup, lambda: startup.report(startup.run())),
        ("Delivery throughput", throughput, lambda: throughput.report(throughput.run())),
        ("Detection latency", latency, lambda: latency.report(latency.run())),
        (dashboard.TITLE, dashboard, lambda: dashboard.report(dashboard.run())),
        ("Soak (2 minutes here; `make soak` runs 10)", soak, lambda: soak.report(soak.run(2.0))),
    ]
    for title, module, measure in steps:
        print(f"{title}...", flush=True)
        table = measure()
        print(table, flush=True)
        sections.append((title, module.__doc__ or "", table))
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
    # Sections other commands record (`make soak`, `make bench-scale`, `make bench-push`:
    # too long for this run) are kept as they are.
    for kept in (soak.RECORDED, scale.TITLE, push.TITLE):
        recorded = kept_section(kept)
        if recorded:
            body += [f"## {kept}", "", recorded, ""]
    notes = Path(__file__).resolve().parent / "NOTES.md"
    if notes.exists():
        body += [notes.read_text().strip(), ""]
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(body))
    print(f"\nwritten to {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
