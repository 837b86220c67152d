"""What each page of the dashboard shows, read from the store into plain records.

The templates only lay these records out; every value that came from LlamaCloud or a target
(job names, error messages, raw jobs) is redacted here and escaped by the templates.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from notifier.core.charts import (
    Chart,
    line_chart,
    stacked_bars,
    stacked_columns,
    weighted_percentile,
)
from notifier.core.models import Event
from notifier.core.render import iso_ms
from notifier.core.statuses import Phase
from notifier.core.timestamps import format_ts, parse_ts
from notifier.secrets import redact
from notifier.status.page import LiveView, label_of, readiness
from notifier.store.codec import SourceState
from notifier.store.db import Store
from notifier.store.reports import DeliveryRow, Reports

WINDOW = timedelta(hours=24)
PHASE_ORDER = tuple(p.value for p in Phase)
OUTCOMES = ("delivered", "pending", "dead", "muted", "suppressed")
LIST_SIZE = 25


def ago(moment: str | None, now: datetime) -> str | None:
    """`12s ago`, `5 min ago`, `3.2 h ago`: how old a time is, in words."""
    when = parse_ts(moment)
    if when is None:
        return None
    seconds = (now - when).total_seconds()
    if seconds < 120:
        return f"{seconds:,.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:,.0f} min ago"
    return f"{seconds / 3600:,.1f} h ago"


def clean(text: str | None) -> str | None:
    return redact(text) if text else None


def cleaned(rows: Iterable[DeliveryRow]) -> list[DeliveryRow]:
    """Rows with their targets' answers redacted (an error may quote a URL with a secret)."""
    return [replace(row, last_error=clean(row.last_error)) for row in rows]


@dataclass(frozen=True, slots=True)
class SourceCard:
    """One polled scope: its state in a word (and a colour), and the figures behind it."""

    label: str
    state: str  # ok, late, failing, baseline, never: a CSS class and a word
    words: str
    last_poll: str | None
    last_poll_ago: str | None
    last_success_ago: str | None
    last_error: str | None
    active_jobs: int
    cycle_requests: int | None
    watermark: str | None
    watermark_age: str | None
    cycles: int


@dataclass(frozen=True, slots=True)
class Overview:
    ready: bool
    now: str
    interval_s: float
    sources: list[SourceCard]
    sweeps: list[list[object]]
    charts: list[Chart]
    events: list[Event]
    pending: list[DeliveryRow]
    dead: list[DeliveryRow]
    channels: list[str]
    native_summary: str | None
    fatal: str | None


def _card(
    *,
    label: str,
    state: SourceState | None,
    late: Mapping[str, str],
    live: LiveView,
    active: int,
    now: datetime,
) -> SourceCard:
    state = state or SourceState(name=label, scope="")
    last_poll, last_success = state.last_poll_at, state.last_success_at
    error, watermark = state.last_error, state.watermark
    baseline = live.baselines.get(label)
    if baseline is not None:
        key, words = "baseline", baseline.describe()
    elif label not in late:
        key, words = ("ok", "polling normally") if not error else ("ok", "ok, last cycle failed")
    elif last_success is None:
        key, words = (
            ("failing", "failing: never polled successfully")
            if error
            else (
                "never",
                "waiting for its first poll",
            )
        )
    else:
        key, words = "failing" if error else "late", f"late: {late[label]}"
    return SourceCard(
        label=label,
        state=key,
        words=words,
        last_poll=iso_ms(last_poll),
        last_poll_ago=ago(last_poll, now),
        last_success_ago=ago(last_success, now),
        last_error=clean(error),
        active_jobs=active,
        cycle_requests=live.cycle_requests.get(label),
        watermark=iso_ms(watermark),
        watermark_age=(ago(watermark, now) or "").removesuffix(" ago") or None,
        cycles=state.cycles,
    )


def _sweeps(store: Store, live: LiveView, now: datetime) -> list[list[object]]:
    rows: list[list[object]] = []
    for p in store.sweeps.positions():
        label = label_of(p.name, p.scope)
        shares = live.shares.get(label, {})
        share = ", ".join(f"{k} {v:.0%}" for k, v in sorted(shares.items()) if v) or "0%"
        progress = (
            f"pass {p.slices_done}/{p.slices} slices, {p.pages:,} pages, {p.found} found"
            if p.running
            else "between passes"
        )
        last = None if p.last_pass_seconds is None else f"{p.last_pass_seconds:,.0f}s"
        row: list[object] = [label, live.cycle_requests.get(label), share, progress]
        rows.append([*row, p.passes, last, ago(p.last_completed_at, now)])
    return rows


def _window(now: datetime, bucket_s: int) -> tuple[datetime, int, list[str]]:
    """The first bucket's start (the last bucket holds `now`), the count, and their labels."""
    count = int(WINDOW.total_seconds()) // bucket_s
    epoch = int(now.timestamp())
    start_s = (epoch // bucket_s + 1) * bucket_s - count * bucket_s
    start = datetime.fromtimestamp(start_s, tz=now.tzinfo)
    labels = [f"{start + timedelta(seconds=i * bucket_s):%H:%M}" for i in range(count)]
    return start, count, labels


def charts(reports: Reports, now: datetime) -> list[Chart]:
    """The four charts of the overview: transitions, detection delay, deliveries, outbox."""
    start, count, labels = _window(now, 300)
    since = format_ts(start)
    per_bucket: list[dict[str, int]] = [{} for _ in range(count)]
    for bucket, phase, n in reports.transitions(since, start, 300):
        if 0 <= bucket < count:
            per_bucket[bucket][phase] = per_bucket[bucket].get(phase, 0) + n
    transitions = stacked_columns(
        "transitions",
        "Transitions per 5 minutes, last 24 h, by phase",
        [f"{label} UTC" for label in labels],
        PHASE_ORDER,
        per_bucket,
        tick_every=36,
        what="transitions",
    )

    hour_start, hours, hour_labels = _window(now, 3600)
    delays: list[list[tuple[float, int]]] = [[] for _ in range(hours)]
    for bucket, tenths, n in reports.delays(format_ts(hour_start), hour_start, 3600):
        if 0 <= bucket < hours:
            delays[bucket].append((tenths / 10, n))
    delay = line_chart(
        "delay",
        "Detection delay per hour (detected minus the job's updated_at)",
        [f"{label} UTC" for label in hour_labels],
        {
            "p50": [weighted_percentile(d, 0.5) for d in delays],
            "p95": [weighted_percentile(d, 0.95) for d in delays],
        },
        tick_every=3,
        unit="s",
        what="detection delay",
    )

    by_channel: dict[str, dict[str, int]] = defaultdict(dict)
    for (channel, state), n in reports.outcomes(since).items():
        by_channel[channel][state] = n
    deliveries = stacked_bars(
        "deliveries",
        "Deliveries queued in the last 24 h, by outcome per channel",
        sorted(by_channel),
        OUTCOMES,
        by_channel,
        what="deliveries",
    )

    q_start, quarters, q_labels = _window(now, 900)
    depth, queued, delivered = reports.outbox_flow(format_ts(q_start), q_start, 900)
    series: list[float | None] = []
    for i in range(quarters):
        depth = max(0, depth + queued.get(i, 0) - delivered.get(i, 0))
        series.append(float(depth))
    outbox = line_chart(
        "outbox",
        "Outbox depth: rows queued and not yet delivered, every 15 minutes",
        [f"{label} UTC" for label in q_labels],
        {"rows waiting": series},
        tick_every=12,
        unit="",
        what="outbox depth",
    )
    return [transitions, delay, deliveries, outbox]


def overview(
    store: Store,
    target_keys: Sequence[tuple[str, str]],
    *,
    sources: Mapping[str, str],
    channels: Sequence[str],
    now: datetime,
    interval: timedelta,
    live: LiveView,
) -> Overview:
    """Everything `/` shows."""
    reports = Reports(store.conn)
    late = readiness(store, target_keys, now, 3 * interval, live.baselines, fatal=live.fatal)
    states = {(s.name, s.scope): s for s in store.source_states()}
    active = reports.active_jobs()
    cards = [
        _card(
            label=label_of(name, scope),
            state=states.get((name, scope)),
            late=late,
            live=live,
            active=active.get((sources.get(name, name), scope), 0),
            now=now,
        )
        for name, scope in target_keys
    ]
    drawn = charts(reports, now)
    return Overview(
        ready=not late,
        now=iso_ms(format_ts(now)) or "",
        interval_s=interval.total_seconds(),
        sources=cards,
        sweeps=_sweeps(store, live, now),
        charts=drawn,
        events=store.list_events(limit=LIST_SIZE),
        pending=cleaned(reports.deliveries("pending", LIST_SIZE)),
        dead=cleaned(reports.deliveries("dead", LIST_SIZE)),
        channels=sorted({*channels, *(row[0] for row in drawn[2].rows)}),  # configured or seen
        native_summary=live.native_summary,
        fatal=live.fatal,
    )


@dataclass(frozen=True, slots=True)
class JobPage:
    source: str
    job_id: str
    name: str | None
    status: str | None
    status_since: str | None
    events: list[Event]
    deliveries: dict[str, list[DeliveryRow]]
    raw_json: str
    redeliverable: list[int]


def job_page(store: Store, source: str, job_id: str) -> JobPage | None:
    """One job's timeline, deliveries and raw JSON; None when the store knows nothing of it."""
    reports = Reports(store.conn)
    events = reports.job_events(source, job_id)
    row = store.load_rows(source, [job_id]).get(job_id)
    if not events and row is None:
        return None
    grouped: dict[str, list[DeliveryRow]] = defaultdict(list)
    for delivery in cleaned(reports.job_deliveries(source, job_id)):
        grouped[delivery.channel].append(delivery)
    latest = events[-1] if events else None
    raw = json.dumps(dict(latest.job), indent=2, ensure_ascii=False) if latest else "{}"
    return JobPage(
        source=source,
        job_id=job_id,
        name=latest.name if latest else None,
        status=row.status if row else latest.to_status if latest else None,
        status_since=iso_ms(row.status_since) if row else None,
        events=events,
        deliveries=dict(grouped),
        raw_json=redact(raw),
        redeliverable=[
            d.id for rows in grouped.values() for d in rows if d.state in ("dead", "muted")
        ],
    )


@dataclass(frozen=True, slots=True)
class ChannelPage:
    name: str
    counts: dict[str, int]
    failures: list[DeliveryRow]


def channel_page(store: Store, name: str, known: Sequence[str]) -> ChannelPage | None:
    """A channel's outbox counts and its recent failures; None for a channel never seen."""
    reports = Reports(store.conn)
    counts = reports.channel_counts(name)
    if not counts and name not in known:
        return None
    return ChannelPage(name, counts, cleaned(reports.failing(50, channel=name)))
