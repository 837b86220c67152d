"""What each page of the dashboard shows, read from the store into plain records.

The templates only lay these records out; every value that came from LlamaCloud or a target
(job names, error messages, raw jobs) is redacted here and escaped by the templates.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from notifier.core.charts import (
    Chart,
    line_chart,
    stacked_bars,
    stacked_columns,
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
        key, words = "ok", "the last cycle failed" if error else "polling normally"
    elif last_success is None:
        key = "failing" if error else "never"
        words = "never polled successfully" if error else "waiting for its first poll"
    else:
        key, words = ("failing" if error else "late"), late[label]
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


# A bucket that ended this long ago is final: a cycle commits what it detected within
# minutes (a long listing commits part by part), so its counts no longer change.
SETTLE = timedelta(minutes=15)


@dataclass
class ChartMemory:
    """Per process: the settled buckets' figures, so a refresh recounts only the last few."""

    transitions: dict[str, dict[str, int]] = field(default_factory=dict)
    delays: dict[int, list[float | None]] = field(default_factory=dict)
    moves: dict[str, tuple[int, int]] = field(default_factory=dict)

    def keep_only(self, lows: Iterable[str], hours: Iterable[int]) -> None:
        """Forget buckets that left the window (and keep the memory bounded)."""
        keep, keep_hours = set(lows), set(hours)
        self.transitions = {k: v for k, v in self.transitions.items() if k in keep}
        self.delays = {k: v for k, v in self.delays.items() if k in keep_hours}
        self.moves = {k: v for k, v in self.moves.items() if k in keep}


def _window(now: datetime, bucket_s: int) -> tuple[list[tuple[str, str]], list[str], int]:
    """The window's buckets as [low, high) times (the last one holds `now`), their labels,
    and the first one's Unix start."""
    count = int(WINDOW.total_seconds()) // bucket_s
    return _buckets((int(now.timestamp()) // bucket_s + 1 - count) * bucket_s, bucket_s, count)


@functools.lru_cache(maxsize=8)
def _buckets(first: int, bucket_s: int, count: int) -> tuple[list[tuple[str, str]], list[str], int]:
    moments = [datetime.fromtimestamp(first + i * bucket_s, tz=UTC) for i in range(count + 1)]
    bounds = [(format_ts(a), format_ts(b)) for a, b in itertools.pairwise(moments)]
    return bounds, [f"{m:%H:%M} UTC" for m in moments[:-1]], first


def charts(
    reports: Reports, now: datetime, memory: ChartMemory, channels: Sequence[str]
) -> list[Chart]:
    """The four charts of the overview: transitions, detection delay, deliveries, outbox."""
    settled = format_ts(now - SETTLE)
    bounds, labels, _ = _window(now, 300)
    missing = [b for b in bounds if b[0] not in memory.transitions]
    fresh = dict(
        zip((b[0] for b in missing), reports.transitions(missing, PHASE_ORDER), strict=True)
    )
    memory.transitions.update((low, fresh[low]) for low, high in missing if high <= settled)
    per_bucket = [memory.transitions.get(low) or fresh.get(low, {}) for low, _ in bounds]
    transitions = stacked_columns(
        "transitions",
        "Transitions per 5 minutes, last 24 h, by phase",
        labels,
        PHASE_ORDER,
        per_bucket,
        tick_every=36,
        rows_every=12,
        what="transitions",
    )

    hour_bounds, hour_labels, first_hour = _window(now, 3600)
    hours = [first_hour // 3600 + i for i in range(len(hour_bounds))]
    todo = [h for h in hours if h not in memory.delays]
    found = dict(zip(todo, reports.delay_percentiles(todo, (0.5, 0.95)), strict=True))
    memory.delays.update(
        (h, found[h])
        for h, (_, high) in zip(hours, hour_bounds, strict=True)
        if h in found and high <= settled
    )
    quantiles = [memory.delays.get(h) or found[h] for h in hours]
    delay = line_chart(
        "delay",
        "Detection delay per hour (detected minus the job's updated_at)",
        hour_labels,
        {"p50": [q[0] for q in quantiles], "p95": [q[1] for q in quantiles]},
        tick_every=3,
        unit="s",
        what="detection delay",
    )

    since = bounds[0][0]
    names = sorted({*channels, *reports.channels()})
    outcomes = reports.outcomes(since, names, OUTCOMES)
    deliveries = stacked_bars(
        "deliveries",
        "Deliveries queued in the last 24 h, by outcome per channel",
        names,
        OUTCOMES,
        outcomes,
        what="deliveries",
    )

    quarter_bounds, quarter_labels, _ = _window(now, 900)
    series: list[float | None] = [
        float(n) for n in outbox_depths(reports, quarter_bounds, memory, settled)
    ]
    memory.keep_only([*(b[0] for b in bounds), *(b[0] for b in quarter_bounds)], hours)
    outbox = line_chart(
        "outbox",
        "Outbox depth: rows queued and not yet delivered, every 15 minutes",
        quarter_labels,
        {"rows waiting": series},
        tick_every=12,
        rows_every=4,
        unit="",
        what="outbox depth",
    )
    return [transitions, delay, deliveries, outbox]


def outbox_depths(
    reports: Reports, bounds: Sequence[tuple[str, str]], memory: ChartMemory, settled: str
) -> list[int]:
    """The outbox depth at the end of each range, walked back from the depth now: each
    range's end is the next one's minus what was queued and plus what was delivered in the
    next one (settled ranges' moves remembered)."""
    todo = [b for b in bounds if b[0] not in memory.moves]
    moved = dict(zip((b[0] for b in todo), reports.outbox_moves(todo), strict=True))
    memory.moves.update((low, moved[low]) for low, high in todo if high <= settled)
    depth = reports.outbox_depth()
    depths: list[int] = []
    for low, _ in reversed(bounds):
        depths.append(max(0, depth))
        queued, delivered = memory.moves.get(low) or moved[low]
        depth -= queued - delivered
    return depths[::-1]


def overview(
    store: Store,
    target_keys: Sequence[tuple[str, str]],
    *,
    sources: Mapping[str, str],
    channels: Sequence[str],
    now: datetime,
    interval: timedelta,
    live: LiveView,
    memory: ChartMemory,
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
    drawn = charts(reports, now, memory, channels)
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
        channels=[row[0] for row in drawn[2].rows],  # configured, or with outbox rows
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
    counts = reports.channel_counts(name, OUTCOMES)
    if not counts and name not in known:
        return None
    return ChannelPage(name, counts, cleaned(reports.failing(50, channel=name)))
