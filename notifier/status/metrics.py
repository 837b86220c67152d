"""Prometheus metrics of one daemon, in a registry of its own (tests run several daemons)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from notifier import __version__
from notifier.core.models import Event, Outcome
from notifier.core.statuses import ENDPOINTS
from notifier.core.timestamps import parse_ts
from notifier.llamacloud.budget import RequestBudget, Spend, current_purpose
from notifier.status.alerting import AlertingMetrics
from notifier.store.sweeps import SweepPosition

_DURATIONS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_DELAYS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)


_SOURCE_OF_PATH = {path: source.value for source, path in ENDPOINTS.items()}


class _OutboxDepth(Collector):
    """Outbox rows per channel and state, read from the store at scrape time."""

    def __init__(
        self, counts: Callable[[], dict[tuple[str, str], int]], channels: Iterable[str]
    ) -> None:
        self._counts = counts
        # An empty outbox reads 0, not "no data": every channel has a pending and a dead sample.
        self._zeros = {(channel, state): 0 for channel in channels for state in ("pending", "dead")}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "notifier_outbox_rows", "Outbox rows by channel and state", labels=["channel", "state"]
        )
        for (channel, state), count in sorted({**self._zeros, **self._counts()}.items()):
            if state != "delivered":
                family.add_metric([channel, state], count)
        yield family


class _SweepGauges(Collector):
    """Each scope's sweep, read from the store at scrape time."""

    def __init__(self, positions: Callable[[], Iterable[SweepPosition]]) -> None:
        self._positions = positions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        progress = GaugeMetricFamily(
            "notifier_sweep_progress_ratio",
            "Part of the lookback window the sweep in progress has listed (1 between passes)",
            labels=["source"],
        )
        passes = GaugeMetricFamily(
            "notifier_sweep_passes", "Sweep passes completed", labels=["source"]
        )
        duration = GaugeMetricFamily(
            "notifier_sweep_last_pass_seconds",
            "Wall time of the last complete sweep pass",
            labels=["source"],
        )
        completed = GaugeMetricFamily(
            "notifier_sweep_last_complete_timestamp_seconds",
            "When the last sweep pass completed (Unix time)",
            labels=["source"],
        )
        for p in self._positions():
            label = [f"{p.name}/{p.scope}" if p.scope else p.name]
            done = p.slices_done / p.slices if p.running and p.slices else 1.0
            progress.add_metric(label, done)
            passes.add_metric(label, p.passes)
            if p.last_pass_seconds is not None:
                duration.add_metric(label, p.last_pass_seconds)
            moment = parse_ts(p.last_completed_at)
            if moment is not None:
                completed.add_metric(label, moment.timestamp())
        yield from (progress, passes, duration, completed)


class _BudgetGauges(Collector):
    """Each scope's share of the request budget over the last minute, by purpose."""

    def __init__(self, budget: RequestBudget, scopes: Iterable[str]) -> None:
        self._budget = budget
        self._scopes = list(scopes)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "notifier_budget_share",
            "Part of llamacloud.max_requests_per_second used over the last minute",
            labels=["source", "purpose"],
        )
        for scope in self._scopes:
            shares = self._budget.share(scope)
            for spend in Spend:
                family.add_metric([scope, spend.name.lower()], shares.get(spend, 0.0))
        yield family


class Metrics:
    """Counters and histograms named `notifier_*`, and the conventional ones (`alerting`)."""

    def __init__(self, version: str = __version__) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.alerting = AlertingMetrics(r, version)
        self.polls = Counter(
            "notifier_polls", "Poll cycles by source and outcome", ["source", "outcome"], registry=r
        )
        self.api_requests = Counter(
            "notifier_api_requests",
            "LlamaCloud requests by source, endpoint and status code (error: no answer)",
            ["source", "endpoint", "code"],
            registry=r,
        )
        self.api_errors = Counter(
            "notifier_api_errors",
            "LlamaCloud requests that failed, by source, endpoint and status code",
            ["source", "endpoint", "code"],
            registry=r,
        )
        self.transitions = Counter(
            "notifier_transitions",
            "Detected events by source, new status and type",
            ["source", "status", "type"],
            registry=r,
        )
        self.deliveries = Counter(
            "notifier_deliveries",
            "Delivery attempts by channel and outcome (delivered, retry, dead)",
            ["channel", "outcome"],
            registry=r,
        )
        self.requests_by_purpose = Counter(
            "notifier_requests_by_purpose",
            "LlamaCloud requests by scope and purpose (cycle, baseline, sweep)",
            ["source", "purpose"],
            registry=r,
        )
        self.cycle_requests = Counter(
            "notifier_cycle_requests",
            "LlamaCloud requests of successful poll cycles (cheap cycles and baselines)",
            ["source"],
            registry=r,
        )
        self.native_webhooks = Counter(
            "notifier_native_webhooks",
            "LlamaCloud's own webhooks audited against polling, by source and outcome "
            "(matched, late, missing, unmatched, rejected)",
            ["source", "outcome"],
            registry=r,
        )
        self.hook_requests = Counter(
            "notifier_native_webhook_requests",
            "Requests to the native webhook path by outcome (accepted, dropped, rejected)",
            ["outcome"],
            registry=r,
        )
        self.hint_rereads = Counter(
            "notifier_hint_requests",
            "LlamaCloud requests made to re-read jobs that native webhooks named",
            ["source"],
            registry=r,
        )
        self.poll_duration = Histogram(
            "notifier_poll_duration_seconds",
            "Wall time of one poll cycle",
            ["source"],
            buckets=_DURATIONS,
            registry=r,
        )
        self.detection_delay = Histogram(
            "notifier_detection_delay_seconds",
            "detected_at minus the job's updated_at, for status changes",
            ["source"],
            buckets=_DELAYS,
            registry=r,
        )

    def watch_scopes(
        self,
        budget: RequestBudget,
        scopes: Iterable[str],
        positions: Callable[[], Iterable[SweepPosition]],
    ) -> None:
        """Gauges of the budget's shares and of the sweeps, read when scraped."""
        self.registry.register(_BudgetGauges(budget, scopes))
        self.registry.register(_SweepGauges(positions))

    def watch_outbox(
        self, counts: Callable[[], dict[tuple[str, str], int]], channels: Iterable[str] = ()
    ) -> None:
        channels = list(channels)
        self.registry.register(_OutboxDepth(counts, channels))
        for channel in channels:  # 0, not "no data", before the first delivery
            for outcome in ("delivered", "retry", "dead"):
                self.deliveries.labels(channel, outcome)

    def api_response(self, path: str, status: int | None, _seconds: float) -> None:
        code = "error" if status is None else str(status)
        source = _SOURCE_OF_PATH.get(path, "other")
        self.api_requests.labels(source, path, code).inc()
        spend, scope = current_purpose()  # the task that sent it: a cycle, baseline or sweep
        self.requests_by_purpose.labels(scope or source, spend.name.lower()).inc()
        if status is None or status >= 400:
            self.api_errors.labels(source, path, code).inc()

    def cycle(
        self, source: str, ok: bool, seconds: float, events: list[Event], requests: int = 0
    ) -> None:
        self.polls.labels(source, "ok" if ok else "error").inc()
        if ok:
            self.cycle_requests.labels(source).inc(requests)
        self.poll_duration.labels(source).observe(seconds)
        for event in events:
            self.transitions.labels(event.source, event.to_status, event.type).inc()
            detected, updated = parse_ts(event.detected_at), parse_ts(event.job_updated_at)
            if event.type == "job.status_changed" and detected and updated:
                self.detection_delay.labels(event.source).observe(
                    max(0.0, (detected - updated).total_seconds())
                )

    def delivery(self, outcome: Outcome) -> None:
        self.deliveries.labels(outcome.channel, outcome.result).inc()
