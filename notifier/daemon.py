"""Wiring: settings -> poller, outbox worker, HTTP server, scheduler, signals."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from notifier.channels.base import Channel
from notifier.channels.webhook import BatchWebhookChannel, WebhookChannel
from notifier.core.messages import Kind, Overrides, target_kind
from notifier.core.mutes import Window, muted_by
from notifier.core.retry import RetryPolicy
from notifier.core.rules import Rule, When, as_set
from notifier.core.timestamps import format_ts
from notifier.delivery import OutboxWorker
from notifier.http import create_app, start_server
from notifier.llamacloud.client import LlamaCloudClient
from notifier.lock import StoreLock
from notifier.metrics import Metrics
from notifier.poller import CycleResult, Poller, PollOptions, PollTarget
from notifier.settings import AppriseChannel, Settings
from notifier.settings import WebhookChannel as WebhookSettings
from notifier.settings import When as WhenSettings
from notifier.store import Store

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def build_targets(settings: Settings) -> list[PollTarget]:
    """One target per (source, project) for v2 and per (source, agent) for v1."""
    targets: list[PollTarget] = []
    default_project = settings.llamacloud.project_id
    stuck_default = settings.polling.stuck_after
    for source in settings.sources:
        name = source.name or source.type.value
        common = {
            "name": name,
            "source": source.type.value,
            "statuses": tuple(source.statuses),
            "configuration_id": source.configuration_id,
            "stuck_after": source.stuck_after or stuck_default,
        }
        if source.extraction_agent_ids:
            targets.extend(
                PollTarget(scope=agent, extraction_agent_id=agent, **common)  # type: ignore[arg-type]
                for agent in source.extraction_agent_ids
            )
            continue
        projects: list[str | None] = [*source.project_ids] or [default_project]
        targets.extend(
            PollTarget(scope=project or "", project_id=project, **common)  # type: ignore[arg-type]
            for project in projects
        )
    return targets


def _when(spec: WhenSettings | None) -> When | None:
    if spec is None:
        return None
    import re  # noqa: PLC0415 -- only needed when rules use regexes

    return When(
        event=as_set(spec.event),
        source=as_set(spec.source),
        status=as_set(spec.status),
        from_status=as_set(spec.from_status),
        phase=as_set(spec.phase),
        project_id=as_set(spec.project_id),
        configuration_id=as_set(spec.configuration_id),
        extraction_agent_id=as_set(spec.extraction_agent_id),
        name=None if spec.name is None else tuple(spec.name),
        error_message=None
        if spec.error_message is None
        else tuple(re.compile(p) for p in spec.error_message),
        negated=_when(spec.not_),
    )


def build_rules(settings: Settings) -> list[Rule]:
    return [
        Rule(
            name=rule.name,
            when=_when(rule.when) or When(),
            channels=tuple(rule.notify),
            stop=not rule.continue_,
            group_by=tuple(rule.group_by),
            group_wait=None if rule.group_wait is None else rule.group_wait.total_seconds(),
            group_interval=(rule.group_interval or timedelta(minutes=5)).total_seconds(),
            repeat_interval=None
            if rule.repeat_interval is None
            else rule.repeat_interval.total_seconds(),
        )
        for rule in settings.rules
    ]


def build_windows(settings: Settings) -> list[Window]:
    return [
        Window(
            name=m.name,
            rules=frozenset(m.rules),
            channels=frozenset(m.channels),
            days=frozenset(m.days),
            start=m.start,
            end=m.end,
            timezone=m.timezone,
        )
        for m in settings.mutes
    ]


def channel_rates(settings: Settings) -> dict[str, float | None]:
    """Sends per second per channel: configured, else about one a second for Slack."""
    rates: dict[str, float | None] = {}
    for name, spec in settings.channels.items():
        rate = spec.rate_per_second
        if rate is None and isinstance(spec, AppriseChannel):
            kinds = {target_kind(u.get_secret_value()) for u in spec.urls}
            rate = 1.0 if Kind.SLACK in kinds else None
        rates[name] = rate
    return rates


def build_channels(settings: Settings) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for name, spec in settings.channels.items():
        if isinstance(spec, WebhookSettings):
            kind = BatchWebhookChannel if spec.batch else WebhookChannel
            channels[name] = kind(
                name,
                spec.url,
                secret=spec.secret.get_secret_value() if spec.secret else None,
                headers=spec.headers,
                timeout=spec.timeout.total_seconds(),
            )
        elif isinstance(spec, AppriseChannel):
            from notifier.channels.apprise import AppriseTarget  # noqa: PLC0415 -- slow import

            channels[name] = AppriseTarget(
                name,
                [url.get_secret_value() for url in spec.urls],
                overrides=Overrides(spec.title, spec.body),
                rule_overrides={
                    rule.name: Overrides(rule.title, rule.body)
                    for rule in settings.rules
                    if name in rule.notify and (rule.title or rule.body)
                },
                timeout=spec.timeout.total_seconds(),
            )
    return channels


def build_policies(settings: Settings) -> dict[str, RetryPolicy]:
    delivery = settings.delivery
    return {
        name: RetryPolicy(
            max_attempts=spec.max_attempts or delivery.max_attempts,
            max_age=spec.max_age or delivery.max_age,
            backoff_base=delivery.backoff_base,
            backoff_max=delivery.backoff_max,
        )
        for name, spec in settings.channels.items()
    }


@dataclass
class Daemon:
    """The running notifier: one scheduled poll job per target, one outbox loop per channel."""

    settings: Settings
    clock: Callable[[], datetime] = utcnow
    store: Store = field(init=False)
    client: LlamaCloudClient = field(init=False)
    poller: Poller = field(init=False)
    worker: OutboxWorker = field(init=False)
    targets: list[PollTarget] = field(init=False)
    _cycles: set[asyncio.Task[object]] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        settings = self.settings
        self.lock = StoreLock(settings.store.path)
        self.lock.acquire()
        try:
            self.store = Store(settings.store.path)
        except BaseException:
            self.lock.release()
            raise
        self.targets = build_targets(settings)
        self.windows = build_windows(settings)
        self.metrics = Metrics()
        self.metrics.watch_outbox(self.store.outbox_counts, settings.channels)
        api = settings.llamacloud
        self.client = LlamaCloudClient(
            api.base_url,
            api.api_key.get_secret_value(),
            timeout=api.timeout.total_seconds(),
            max_requests_per_second=api.max_requests_per_second,
            max_retries=api.max_retries,
            organization_id=api.organization_id,
            on_response=self.metrics.api_response,
        )
        self.channels = build_channels(settings)
        self.worker = OutboxWorker(
            self.store,
            self.channels,
            build_policies(settings),
            concurrency=settings.delivery.concurrency,
            clock=self.clock,
            on_outcome=self.metrics.delivery,
            rates=channel_rates(settings),
            mute_check=self.muted,
        )
        polling = settings.polling
        self.poller = Poller(
            self.client,
            self.store,
            build_rules(settings),
            PollOptions(
                lookback=polling.lookback,
                overlap=polling.overlap,
                initial_sync=polling.initial_sync,
                page_size=polling.page_size,
                job_ids_batch=polling.job_ids_batch,
                reconcile_every=polling.reconcile_every,
            ),
            clock=self.clock,
            on_queued=self.worker.wake,
        )

    def muted(self, rule: str, channel: str, now: datetime) -> str | None:
        """Why a delivery is muted now (config windows, `notifier mute`), or None."""
        stored = [(k, n, u) for _, k, n, u, _ in self.store.active_mutes(format_ts(now))]
        return muted_by(self.windows, stored, rule, channel, now)

    async def poll_target(self, target: PollTarget) -> CycleResult | None:
        """One scheduled cycle; errors are logged (the next cycle retries), never raised."""
        task = asyncio.current_task()
        if task is not None:
            self._cycles.add(task)
        started = time.perf_counter()
        try:
            result = await self.poller.poll(target)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad cycle must not stop the daemon
            self.metrics.cycle(target.name, False, time.perf_counter() - started, [])
            log.warning("poll_failed", source=target.key, error=f"{type(exc).__name__}: {exc}")
            return None
        finally:
            if task is not None:
                self._cycles.discard(task)
        self.metrics.cycle(target.name, True, time.perf_counter() - started, result.events)
        log.debug(
            "polled",
            source=result.target,
            observed=result.observed,
            events=len(result.events),
            requests=result.requests,
        )
        return result

    async def prune(self) -> int:
        """Delete what `store.retention` has outlived, a small batch at a time.

        The cut-off never comes closer than twice the lookback, so a reconcile pass cannot
        meet a pruned finished job and announce it as new.
        """
        keep = max(self.settings.store.retention, 2 * self.settings.polling.lookback)
        before = format_ts(self.clock() - keep)
        total = 0
        while deleted := self.store.prune(before):
            total += deleted
            await asyncio.sleep(0)  # let polling and deliveries run between batches
        if total:
            log.info("pruned", rows=total, before=before)
        return total

    async def once(self) -> list[CycleResult | None]:
        """Every target once, then every due delivery once (`notifier once`)."""
        try:
            results = [await self.poll_target(target) for target in self.targets]
            await self.worker.drain()
            return results
        finally:
            await self.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll on schedule and deliver until `stop` is set, then shut down cleanly."""
        scheduler = AsyncIOScheduler(timezone=UTC)
        interval = self.settings.polling.interval
        for target in self.targets:
            scheduler.add_job(
                self.poll_target,
                "interval",
                args=[target],
                seconds=interval.total_seconds(),
                id=target.key,
                max_instances=1,
                coalesce=True,
                next_run_time=self.clock(),
                misfire_grace_time=None,
            )
        scheduler.add_job(
            self.prune,
            "interval",
            minutes=10,
            id="retention",
            max_instances=1,
            coalesce=True,
            next_run_time=self.clock() + timedelta(minutes=1),
        )
        runner: web.AppRunner | None = None
        http = self.settings.http
        if http.enabled:
            app = create_app(
                self.store,
                [(t.name, t.scope) for t in self.targets],
                interval=interval,
                clock=self.clock,
                metrics=self.metrics,
                token=http.token.get_secret_value() if http.token else None,
            )
            runner = await start_server(app, http.host, http.port)
            log.info("http_listening", listen=http.listen)
        self.worker.start()
        scheduler.start()
        log.info("started", sources=[t.key for t in self.targets], channels=list(self.channels))
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            scheduler.pause()
            grace = self.settings.delivery.shutdown_grace.total_seconds()
            if self._cycles:
                # APScheduler's shutdown() would cancel a running cycle; let it commit first.
                _, late = await asyncio.wait(set(self._cycles), timeout=grace)
                for task in late:
                    task.cancel()
            scheduler.shutdown(wait=False)
            await self.worker.stop(grace)
            if runner is not None:
                await runner.cleanup()
            await self.close()
            log.info("stopped")

    async def close(self) -> None:
        await self.client.close()
        for channel in self.channels.values():
            await channel.close()
        self.store.close()
        self.lock.release()


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set `stop`, so the daemon exits 0 after a clean shutdown."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
