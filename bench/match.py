"""The cost of `when.match` per event: routing 20,000 realistic events through rules with and
without JMESPath expressions (the document built once per event, shared by its rules), on
one core, in the poller's own `core.rules.route`."""

from __future__ import annotations

import statistics
import sys
import time

from notifier.core.match import compile_match, match_document
from notifier.core.models import Event
from notifier.core.rules import Rule, When, as_set, route
from notifier.core.samples import sample_event

EVENTS = 20_000
TITLE = "Match (`when.match` per event)"
EXPRESSIONS = (
    "to_status == 'COMPLETED' && job.extract_result != `null` "
    "&& job.extract_result.invoice_total == `null`",
    "source == 'parse_v2' && job.usage.credits > `100`",
    "starts_with(configuration_id || '', 'cfg-invoices-')",
)


def events(count: int) -> list[Event]:
    statuses = ("COMPLETED", "FAILED", "RUNNING", "THROTTLED")
    made = []
    for n in range(count):
        status = statuses[n % len(statuses)]
        configuration = f"cfg-invoices-{n % 7}"
        job: dict[str, object] = {
            "id": f"ext-{n}",
            "status": status,
            "configuration_id": configuration,
            "extract_result": {"invoice_total": None if n % 3 else 12.5, "vendor": "ACME"},
            "metadata": {"usage": {"num_pages_extracted": n % 11}},
            "usage": {"credits": float(n % 300)},
        }
        made.append(
            sample_event(
                id=f"evt_{n:024d}",
                job_id=f"ext-{n}",
                to_status=status,
                configuration_id=configuration,
                job=job,
            )
        )
    return made


def plain_rules() -> list[Rule]:
    return [
        Rule("failed", When(phase=as_set(["failed"])), ("slack",)),
        Rule("completed", When(status=as_set(["COMPLETED"])), ("pipeline",)),
        Rule("throttled", When(status=as_set(["THROTTLED"])), ("slack",)),
    ]


def match_rules() -> list[Rule]:
    return plain_rules() + [
        Rule(f"match-{i}", When(match=compile_match(text)), ("audit",))
        for i, text in enumerate(EXPRESSIONS)
    ]


def per_event(rules: list[Rule], batch: list[Event], rounds: int = 5) -> float:
    """Median seconds per event of `route` over the batch."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for event in batch:
            route(event, rules)
        times.append((time.perf_counter() - started) / len(batch))
    return statistics.median(times)


def run(count: int = EVENTS) -> dict[str, float]:
    batch = events(count)
    started = time.perf_counter()
    for event in batch:
        match_document(event)
    document = (time.perf_counter() - started) / count
    plain = per_event(plain_rules(), batch)
    matched = per_event(match_rules(), batch)
    return {
        "plain": plain,
        "match": matched,
        "document": document,
        "per_expression": max(0.0, matched - plain - document) / len(EXPRESSIONS),
    }


def report(figures: dict[str, float]) -> str:
    us = 1e6
    return "\n".join(
        [
            "| routing of one event | µs |",
            "| --- | --- |",
            f"| 3 plain rules (`status`, `phase`) | {figures['plain'] * us:.1f} |",
            f"| the same + 3 `when.match` rules | {figures['match'] * us:.1f} |",
            f"| of which the event's document (once per event) | {figures['document'] * us:.1f} |",
            f"| one expression, evaluated | {figures['per_expression'] * us:.1f} |",
        ]
    )


def main() -> int:
    from bench.__main__ import DOC, replace_section

    table = report(run())
    print(table)
    if "--record" in sys.argv:
        text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
        doc = " ".join((__doc__ or "").split())
        DOC.write_text(replace_section(text, TITLE, f"{doc}\n\n{table}"))
        print(f"written to {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
