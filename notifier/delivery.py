"""The outbox worker: claim due rows, send them, record the outcome, back off, dead-letter.

Each channel has its own loop, so a slow or dead target delays no other channel and never
the poller (which only writes outbox rows). A row is marked delivered only after its target
accepted it: a crash in between means the same event (same `webhook-id`) is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime

import structlog

from notifier.channels.base import Channel, DeliveryError, GroupChannel
from notifier.core.models import AttemptResult, Outcome
from notifier.core.retry import RetryPolicy
from notifier.core.timestamps import format_ts, parse_ts
from notifier.ratelimit import RateLimiter
from notifier.secrets import redact
from notifier.store.db import Store
from notifier.store.outbox import Delivery

log = structlog.get_logger(__name__)

_IDLE_POLL = 5.0


class OutboxWorker:
    """Delivers pending outbox rows of every channel until stopped."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        policies: Mapping[str, RetryPolicy],
        *,
        concurrency: int = 8,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
        rates: Mapping[str, float | None] | None = None,
        mute_check: Callable[[str, str, datetime], str | None] | None = None,
        on_store_error: Callable[[sqlite3.Error], None] | None = None,
        # mute_check(rule, channel, now): why a due row is held back now, or None to send it
        # (the daemon answers with `core.queueing.muted_by`).
    ) -> None:
        self.store = store
        self.channels = dict(channels)
        self.policies = dict(policies)
        self.concurrency = concurrency
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 -- jitter, not cryptography
        self.on_outcome = on_outcome
        self.mute_check = mute_check
        self.on_store_error = on_store_error  # the daemon stops on a damaged file
        self.limiters = {
            name: RateLimiter(rate) for name, rate in (rates or {}).items() if rate is not None
        }
        self._wakeups = {name: asyncio.Event() for name in self.channels}
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        """New rows were queued: every channel looks at the outbox now instead of later."""
        for event in self._wakeups.values():
            event.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._channel_loop(name), name=f"outbox:{name}")
            for name in self.channels
        ]

    async def stop(self, grace: float) -> None:
        """Stop claiming rows; let in-flight sends finish within `grace`, then cancel them.

        A cancelled send leaves its row pending, so it is sent after the next start.
        """
        self._stopping.set()
        self.wake()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if pending:
            log.warning("deliveries_interrupted", channels=[t.get_name() for t in pending])

    async def drain(self) -> int:
        """Send everything due now, channel by channel concurrently; for `notifier once`.

        Rows that fail go to backoff and are left for a later run; returns attempts made.
        """
        counts = await asyncio.gather(*(self._drain_channel(name) for name in self.channels))
        return sum(counts)

    async def _drain_channel(self, name: str) -> int:
        attempts = 0
        while batch := self.store.outbox.due_deliveries(
            name, format_ts(self.clock()), self.concurrency * 4
        ):
            await self._send_batch(name, batch)
            attempts += len(batch)
        return attempts

    def reconfigure(
        self,
        channels: Mapping[str, Channel],
        policies: Mapping[str, RetryPolicy],
        rates: Mapping[str, float | None],
    ) -> list[Channel]:
        """Channels, retry policies and pacing of a reloaded configuration, from the next
        claim on. A removed channel's loop ends after its current send; its rows stay in
        the outbox (sent again if it comes back). Returns the channel objects replaced or
        removed, for the caller to close once their sends are over."""
        old = self.channels
        self.channels = dict(channels)
        self.policies = {**self.policies, **policies}  # a send in flight may still ask
        self.limiters = {name: RateLimiter(r) for name, r in rates.items() if r is not None}
        for name in self.channels:
            self._wakeups.setdefault(name, asyncio.Event())
        if self._tasks:  # started: a loop for each new channel
            running = {t.get_name() for t in self._tasks if not t.done()}
            self._tasks = [t for t in self._tasks if not t.done()]
            self._tasks += [
                asyncio.create_task(self._channel_loop(name), name=f"outbox:{name}")
                for name in self.channels
                if f"outbox:{name}" not in running
            ]
        self.wake()
        return [channel for name, channel in old.items() if self.channels.get(name) is not channel]

    async def _channel_loop(self, name: str) -> None:
        wakeup = self._wakeups[name]
        while not self._stopping.is_set() and name in self.channels:
            wakeup.clear()
            try:
                batch = self.store.outbox.due_deliveries(
                    name, format_ts(self.clock()), self.concurrency * 4
                )
                if batch:
                    await self._send_batch(name, batch)
                    continue
                idle = self._idle_wait(name)
            except sqlite3.Error as exc:
                # A read-only or full disk: rows stay pending; try again shortly.
                log.error("outbox_store_error", channel=name, error=str(exc))
                if self.on_store_error is not None:
                    self.on_store_error(exc)
                idle = _IDLE_POLL
            except Exception as exc:  # a bug must not end this channel's deliveries for good
                log.error(
                    "outbox_loop_error", channel=name, error=redact(f"{type(exc).__name__}: {exc}")
                )
                idle = _IDLE_POLL
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=idle)

    def _idle_wait(self, name: str) -> float:
        """Sleep until the next row of this channel is due (or a wake-up), at most a few s."""
        due = parse_ts(self.store.outbox.next_due_at(name))
        if due is None:
            return _IDLE_POLL
        return min(_IDLE_POLL, max(0.01, (due - self.clock()).total_seconds()))

    async def _send_batch(self, name: str, batch: list[Delivery]) -> None:
        limit = asyncio.Semaphore(self.concurrency)
        grouped = isinstance(self.channels.get(name), GroupChannel)
        units: list[list[Delivery]] = []
        seen_groups: set[str] = set()
        for delivery in batch:
            if grouped and delivery.group_key is not None:
                if delivery.group_key in seen_groups:
                    continue
                seen_groups.add(delivery.group_key)
                units.append(
                    self.store.outbox.group_members(name, delivery.group_key) or [delivery]
                )
            else:
                units.append([delivery])

        async def attempt(unit: list[Delivery]) -> None:
            async with limit:
                if self._stopping.is_set() or name not in self.channels:
                    return  # stays pending: sent after the next start (or the channel's return)
                await self._attempt(name, unit)

        await asyncio.gather(*(attempt(unit) for unit in units))

    async def _attempt(self, name: str, unit: list[Delivery]) -> None:
        """Send one row, or one group of rows as a single message, and record the outcome."""
        channel = self.channels[name]
        first = unit[0]
        event = first.event
        attempt_log = log.bind(
            channel=name, event_id=event.id, job_id=event.job_id, attempt=first.attempts + 1
        )
        if len(unit) > 1:
            attempt_log = attempt_log.bind(group=first.group_key, events=len(unit))
        muted = self.mute_check(first.rule, name, self.clock()) if self.mute_check else None
        if muted is not None:
            self.store.outbox.mark_muted([d.id for d in unit], muted)
            attempt_log.info("muted", reason=muted)
            for delivery in unit:
                self._report(Outcome(name, delivery.event.id, AttemptResult.MUTED, None, muted))
            return
        limiter = self.limiters.get(name)
        if limiter is not None:
            await limiter.wait()
        # Targets every row of the unit reached already (a channel of several URLs).
        done = frozenset.intersection(*(d.accepted for d in unit))
        try:
            if first.group_key is not None and isinstance(channel, GroupChannel):
                status = await channel.send_group([d.event for d in unit], first.rule, done)
            else:
                status = await channel.send(event, first.rule, done)
        except DeliveryError as exc:
            reason = redact(str(exc))
            for delivery in unit:
                self._failed(delivery, attempt_log, reason, exc.status, exc.retryable, exc)
            return
        except Exception as exc:  # a channel bug must not stop the worker
            reason = redact(f"{type(exc).__name__}: {exc}")
            for delivery in unit:
                self._failed(delivery, attempt_log, reason, None, True, None)
            return
        now = format_ts(self.clock())
        self.store.outbox.mark_delivered([d.id for d in unit], now, status)
        if first.group_key is not None and isinstance(channel, GroupChannel):
            self.store.outbox.group_sent(name, first.group_key, now)
        attempt_log.info("delivered", status=status, to_status=event.to_status)
        for delivery in unit:
            self._report(Outcome(name, delivery.event.id, AttemptResult.DELIVERED, status))

    def _failed(  # noqa: PLR0917 -- private helper, called from two places
        self,
        delivery: Delivery,
        attempt_log: structlog.typing.FilteringBoundLogger,
        reason: str,
        status: int | None,
        retryable: bool,
        error: DeliveryError | None,
    ) -> None:
        now = self.clock()
        next_at: datetime | None = None
        if retryable:
            created = parse_ts(delivery.created_at) or now
            next_at = self.policies[delivery.channel].next_attempt(
                attempts=delivery.attempts + 1,
                created_at=created,
                now=now,
                retry_after=error.retry_after if error is not None else None,
                rng=self.rng,
            )
        self.store.outbox.mark_failed(
            delivery.id,
            error=reason,
            status=status,
            next_attempt_at=None if next_at is None else format_ts(next_at),
            accepted=delivery.accepted | (error.accepted if error is not None else frozenset()),
        )
        if next_at is None:
            attempt_log.error("dead_lettered", reason=reason, status=status, retryable=retryable)
            self._report(
                Outcome(delivery.channel, delivery.event.id, AttemptResult.DEAD, status, reason)
            )
        else:
            attempt_log.warning(
                "delivery_failed", reason=reason, status=status, retry_at=format_ts(next_at)
            )
            self._report(
                Outcome(delivery.channel, delivery.event.id, AttemptResult.RETRY, status, reason)
            )

    def _report(self, outcome: Outcome) -> None:
        if self.on_outcome is not None:
            self.on_outcome(outcome)
