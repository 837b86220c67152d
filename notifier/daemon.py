"""Wiring only: the scheduler, the poller, the outbox worker, the HTTP server, signals.

What is built from the settings is built in `assemble`; this module starts, runs and stops.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from notifier.assemble import (
    build_channels,
    build_digests,
    build_policies,
    build_rules,
    build_targets,
    build_watchdog,
    build_windows,
    channel_rates,
    poll_options,
    sweep_options,
)
from notifier.config.models import Settings
from notifier.core.queueing import muted_by
from notifier.core.timestamps import format_ts
from notifier.delivery import OutboxWorker
from notifier.llamacloud.budget import RequestBudget
from notifier.llamacloud.client import LlamaCloudClient
from notifier.notices.digests import Digests
from notifier.polling.cycle import CycleResult
from notifier.polling.poller import V2_SOURCES, Poller, PollTarget
from notifier.polling.sweep import Sweeper
from notifier.push import PushPath
from notifier.reload import Reloader
from notifier.status.http import create_app
from notifier.status.metrics import Metrics
from notifier.status.page import BaselineInfo, LiveView
from notifier.status.server import Served, start_server
from notifier.store.connection import StoreError, is_corruption
from notifier.store.db import Store
from notifier.store.lock import StoreLock

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Daemon:
    """The running notifier: one scheduled poll job per target, one outbox loop per channel."""

    settings: Settings
    clock: Callable[[], datetime] = utcnow
    # Reads the configuration again for SIGHUP and POST /-/reload (None: no reloads).
    load_config: Callable[[], Settings] | None = None
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
        self.metrics.watch_outbox(self.store.outbox.counts, settings.channels)
        api = settings.llamacloud
        self.client = LlamaCloudClient(
            api.base_url,
            api.api_key.get_secret_value(),
            timeout=api.timeout.total_seconds(),
            max_requests_per_second=api.max_requests_per_second,
            max_retries=api.max_retries,
            organization_id=api.organization_id,
            max_page_bytes=api.max_page_bytes,
            on_response=self.metrics.api_response,
            budget=RequestBudget(
                api.max_requests_per_second, sweep_share=settings.polling.sweep_share
            ),
        )
        self.metrics.watch_scopes(
            self.client.budget, [t.key for t in self.targets], self.store.sweeps.positions
        )
        alerting = self.metrics.alerting
        alerting.loaded(True, reload=False)
        alerting.watch_polls(self.store.source_states, [t.key for t in self.targets])
        alerting.watch_pending(
            self.store.outbox.oldest_pending,
            lambda: self.channels,
            lambda: self.clock().timestamp(),
        )
        self.channels = build_channels(settings)
        self.watchdog = build_watchdog(settings, self.store, self.channels, self.clock)
        self.worker = OutboxWorker(
            self.store,
            self.channels,
            build_policies(settings),
            concurrency=settings.delivery.concurrency,
            clock=self.clock,
            on_outcome=self.watchdog.observing(self.metrics.delivery),
            rates=channel_rates(settings),
            mute_check=self.muted,
            on_store_error=self._store_error,
        )
        self.watchdog.on_queued = self.worker.wake
        self.poller = Poller(
            self.client,
            self.store,
            build_rules(settings),
            poll_options(settings),
            clock=self.clock,
            on_queued=self.worker.wake,
        )
        self.digests = Digests(
            self.store,
            build_digests(settings),
            clock=self.clock,
            on_queued=self.worker.wake,
            on_error=self._store_error,
        )
        self.sweepers = [
            Sweeper(self.client, self.store, target, sweep_options(settings), clock=self.clock)
            for target in self.targets
            if target.source in V2_SOURCES
        ]
        self.last_cycle_requests: dict[str, int] = {}
        self.push = PushPath(
            self.poller,
            self.store,
            self.targets,
            self.metrics,
            pushed={s.name or s.type.value for s in settings.sources if s.native_webhooks},
            start_cycle=self._cycle_now,
            next_run=self._next_run,
        )
        self.reloader = Reloader(self, self.load_config) if self.load_config else None
        self._scheduler: AsyncIOScheduler | None = None
        self._interval_of: dict[str, float] = {}
        self._spawned: set[asyncio.Task[object]] = set()
        self.fatal: BaseException | None = None
        self._stop: asyncio.Event | None = None

    # -- a damaged store ends the daemon ----------------------------------------------------

    def _store_error(self, error: BaseException) -> None:
        """A damaged file (SQLITE_CORRUPT, SQLITE_NOTADB) is fatal: logged once, the daemon
        stops and `run` exits 1, so the supervisor restarts it and alerts fire."""
        self.watchdog.store_error(error)  # any store error is a trouble to tell of
        if not is_corruption(error) or self.fatal is not None:
            return
        self.fatal = error
        log.error(
            "store_damaged",
            path=str(self.settings.store.path),
            error=str(error),
            fix="stop the daemon; recover the file with sqlite3's .recover (docs/reliability.md)",
        )
        if self._stop is not None:
            self._stop.set()

    async def _supervised(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """A background loop (a sweep, the hints) that survives its own bugs: logged, then
        started again; a damaged store stops the daemon instead."""
        while self.fatal is None:
            try:
                await run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._store_error(exc)
                log.error("task_failed", task=name, error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(5)

    def _next_run(self, key: str) -> float | None:
        """When the scheduler runs this scope's next cycle (Unix time), if it is running."""
        job = self._scheduler.get_job(key) if self._scheduler is not None else None
        moment = getattr(job, "next_run_time", None)
        return moment.timestamp() if moment is not None else None

    def _cycle_now(self, target: PollTarget) -> None:
        """A hint without a usable id: this source's cycle now (the poller serializes)."""
        task: asyncio.Task[object] = asyncio.create_task(self.poll_target(target))
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    def live(self) -> LiveView:
        """What the status page and `/readyz` need that only the running daemon knows."""
        now = self.clock()
        return LiveView(
            baselines={
                key: BaselineInfo(p.pages, p.jobs, p.fraction(), p.seconds_left(now))
                for key, p in self.poller.baselines.items()
            },
            cycle_requests=dict(self.last_cycle_requests),
            fatal=None if self.fatal is None else "the store is damaged: stopping",
            native_summary=self.push.audit.summary(),
            shares={
                t.key: {
                    spend.name.lower(): share
                    for spend, share in self.client.budget.share(t.key).items()
                }
                for t in self.targets
            },
        )

    def muted(self, rule: str, channel: str, now: datetime) -> str | None:
        """Why a delivery is muted now (config windows, `notifier mute`), or None."""
        stored = [(k, n, u) for _, k, n, u, _ in self.store.mutes.active(format_ts(now))]
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
            self._store_error(exc)
            self.metrics.cycle(target.name, False, time.perf_counter() - started, [])
            log.warning("poll_failed", source=target.key, error=f"{type(exc).__name__}: {exc}")
            return None
        finally:
            if task is not None:
                self._cycles.discard(task)
        self.metrics.cycle(
            target.name, True, time.perf_counter() - started, result.events, result.requests
        )
        self.last_cycle_requests[target.key] = result.requests
        self.push.detected(target, result.events, None)
        self._adapt(target)
        log.debug(
            "polled",
            source=result.target,
            observed=result.observed,
            events=len(result.events),
            requests=result.requests,
        )
        return result

    def _adapt(self, target: PollTarget) -> None:
        """Poll at `polling.active_interval` while the scope has jobs running, at
        `polling.interval` (the ceiling) while it is idle."""
        polling = self.settings.polling
        if polling.active_interval is None or self._scheduler is None:
            return
        busy = bool(self.store.active_job_ids(target.source, target.scope))
        seconds = (polling.active_interval if busy else polling.interval).total_seconds()
        if self._interval_of.get(target.key) != seconds:
            self._interval_of[target.key] = seconds
            self._scheduler.reschedule_job(target.key, trigger="interval", seconds=seconds)

    async def prune(self) -> int:
        """Delete what `store.retention` has outlived, a small batch at a time.

        The cut-off never comes closer than twice the lookback, so a sweep cannot
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
            if self.fatal is None:
                await self.digests.safe_tick()
            if self.fatal is None:
                await self.watchdog.tick()
            if self.fatal is None:
                await self.worker.drain()
        finally:
            await self.close()
        if self.fatal is not None:
            raise StoreError(f"the store {self.settings.store.path} is damaged ({self.fatal})")
        return results

    async def run(self, stop: asyncio.Event) -> None:
        """Poll on schedule and deliver until `stop` is set, then shut down cleanly."""
        scheduler = self._scheduler = AsyncIOScheduler(timezone=UTC)
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
        scheduler.add_job(self.push.tick, "interval", seconds=5, id="audit", coalesce=True)
        scheduler.add_job(
            self.prune,
            "interval",
            minutes=10,
            id="retention",
            max_instances=1,
            coalesce=True,
            next_run_time=self.clock() + timedelta(minutes=1),
        )
        self.digests.schedule(scheduler)
        self.watchdog.schedule(scheduler)
        runner: Served | None = None
        http, native = self.settings.http, self.settings.native_webhooks
        if http.enabled:
            app = create_app(
                self.store,
                [(t.name, t.scope) for t in self.targets],
                interval=interval,
                clock=self.clock,
                metrics=self.metrics,
                token=http.token.get_secret_value() if http.token else None,
                live=self.live,
                hooks=self.push.hooks(
                    native.path,
                    native.secret.get_secret_value() if native.secret else None,
                    native.token.get_secret_value() if native.token else None,
                ),
                reload=self.reloader.answer if self.reloader else None,
                sources={t.name: t.source for t in self.targets},
                channels=sorted(self.settings.channels),
            )
            runner = await start_server(app, http.host, http.port)
            log.info("http_listening", listen=http.listen)
        self.worker.start()
        scheduler.start()
        self._stop = stop
        if self.reloader is not None:
            self.reloader.on_hangup(stop)
        sweeps_stop = asyncio.Event()
        loops: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            (f"sweep:{s.target.key}", functools.partial(s.run, sweeps_stop)) for s in self.sweepers
        ]
        loops.append(("hints", functools.partial(self.push.hinter.run, sweeps_stop)))
        sweeps = [
            asyncio.create_task(self._supervised(name, run), name=name) for name, run in loops
        ]
        log.info("started", sources=[t.key for t in self.targets], channels=list(self.channels))
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            scheduler.pause()
            sweeps_stop.set()
            for sweep in sweeps:  # a slice cut short is listed again after the next start
                sweep.cancel()
            await asyncio.gather(*sweeps, return_exceptions=True)
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
        if self.fatal is not None:
            raise StoreError(
                f"the store {self.settings.store.path} is damaged ({self.fatal}); stopped. "
                "Recover it with sqlite3's .recover (see docs/reliability.md)"
            )

    async def close(self) -> None:
        if self.reloader is not None:
            await self.reloader.close()
        await self.client.close()
        for channel in self.channels.values():
            await channel.close()
        self.store.close()
        self.lock.release()


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set `stop`, so the daemon exits 0 after a clean shutdown. SIGHUP
    (a reload, once `run` is under way) no longer ends the process while it starts."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(
        signal.SIGHUP, lambda: log.warning("reload_ignored", why="starting, or reloads are off")
    )
