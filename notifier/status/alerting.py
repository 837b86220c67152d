"""The metrics operators alert on, named as Prometheus and Alertmanager name theirs.

`process_*` and `python_*` (prometheus_client's own collectors, which a custom registry does
not get by itself), `notifier_build_info{version}`, when each scope last polled successfully,
how old each channel's oldest undelivered row is, and whether the last configuration
(re)load succeeded. Ages and timestamps are read at scrape time, from the store where they
must survive a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.registry import Collector

from notifier.core.timestamps import parse_ts
from notifier.status.page import label_of
from notifier.store.codec import SourceState


class _LastSuccess(Collector):
    """`notifier_last_successful_poll_timestamp_seconds{source}`, from the store's record of
    each configured scope (so it survives a restart; absent until a scope ever succeeded)."""

    def __init__(self, states: Callable[[], Iterable[SourceState]], scopes: Iterable[str]) -> None:
        self._states = states
        self._scopes = set(scopes)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "notifier_last_successful_poll_timestamp_seconds",
            "When each scope's last poll cycle succeeded (Unix time)",
            labels=["source"],
        )
        for state in self._states():
            label = label_of(state.name, state.scope)
            moment = parse_ts(state.last_success_at)
            if label in self._scopes and moment is not None:
                family.add_metric([label], moment.timestamp())
        yield family


class _OldestPending(Collector):
    """`notifier_outbox_oldest_pending_age_seconds{channel}`: 0 when nothing waits."""

    def __init__(
        self,
        oldest: Callable[[], Mapping[str, str]],
        channels: Callable[[], Iterable[str]],
        now: Callable[[], float],
    ) -> None:
        self._oldest = oldest
        self._channels = channels
        self._now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "notifier_outbox_oldest_pending_age_seconds",
            "Age of each channel's oldest row not yet delivered (waiting or retrying), 0 if none",
            labels=["channel"],
        )
        oldest = dict(self._oldest())
        now = self._now()
        for channel in sorted({*self._channels(), *oldest}):
            moment = parse_ts(oldest.get(channel))
            family.add_metric(
                [channel], 0.0 if moment is None else max(0.0, now - moment.timestamp())
            )
        yield family


class AlertingMetrics:
    """The conventional metrics of a daemon, registered in the daemon's own registry."""

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.registry = registry
        Info("notifier_build", "The running notifier's version", registry=registry).info(
            {"version": version}
        )
        self.reload_ok = Gauge(
            "notifier_config_last_reload_successful",
            "Whether the last configuration (re)load succeeded (1) or was refused (0)",
            registry=registry,
        )
        self.reload_at = Gauge(
            "notifier_config_last_reload_success_timestamp_seconds",
            "When the running configuration was loaded (Unix time)",
            registry=registry,
        )
        self.reloads = Counter(
            "notifier_config_reloads",
            "Configuration reloads asked for (SIGHUP, POST /-/reload) by outcome",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("success", "failure"):
            self.reloads.labels(outcome)

    def loaded(self, ok: bool, at: float | None = None, *, reload: bool = True) -> None:
        """A configuration was read: at start (`reload=False`) or on a reload."""
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_at.set(time.time() if at is None else at)
        if reload:
            self.reloads.labels("success" if ok else "failure").inc()

    def watch_polls(
        self, states: Callable[[], Iterable[SourceState]], scopes: Iterable[str]
    ) -> None:
        self.registry.register(_LastSuccess(states, scopes))

    def watch_pending(
        self,
        oldest: Callable[[], Mapping[str, str]],
        channels: Callable[[], Iterable[str]],
        now: Callable[[], float] = time.time,
    ) -> None:
        self.registry.register(_OldestPending(oldest, channels, now))
