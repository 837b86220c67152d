"""The watchdog at work: gathers the facts of the notifier's own health, asks `core.watchdog`
what they call for, and records each notice with the trouble's state in one transaction
(`Store.record_notices`), so a restart neither repeats a trouble nor forgets one.

Channel health is heard from the outbox worker's outcomes; store errors from the daemon.
When the store itself cannot take a notice, it is sent straight to the watchdog's channels
(once per notice, best effort): a broken store is the trouble most worth telling.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from notifier.channels.base import Channel, DeliveryError
from notifier.core.models import AttemptResult, Event, Outcome, Route
from notifier.core.timestamps import format_ts, parse_ts
from notifier.core.watchdog import (
    Action,
    ChannelFact,
    Decision,
    Facts,
    SourceFact,
    WatchdogSpec,
    decide,
    troubles,
)
from notifier.secrets import redact
from notifier.store.connection import StoreError
from notifier.store.db import Store
from notifier.store.notices import Notices

log = structlog.get_logger(__name__)

RULE = "watchdog"  # what `data.rule` and the outbox name as the notices' rule


class Watchdog:
    """Checks every `check_every`; `observe` and `store_error` keep it informed between.
    Without a spec (no `watchdog.notify`) it only listens and never checks."""

    def __init__(
        self,
        store: Store,
        spec: WatchdogSpec | None,
        channels: Mapping[str, Channel],
        *,
        scopes: Sequence[tuple[str, str]],
        clock: Callable[[], datetime],
        check_every: float = 30.0,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.spec = spec
        self.channels = channels
        self.scopes = set(scopes)  # (source name, scope) pairs this daemon polls
        self.clock = clock
        self.check_every = check_every
        self.on_queued = on_queued
        self.started_at = clock()
        self._channel_facts: dict[str, ChannelFact] = {}
        self._store_error: tuple[datetime, str] | None = None
        self._sent_directly: set[str] = set()

    # -- what the daemon tells it -------------------------------------------------------------

    def observing(self, then: Callable[[Outcome], None] | None) -> Callable[[Outcome], None]:
        """An `on_outcome` for the worker that notes channel health, then calls `then`."""

        def observe(outcome: Outcome) -> None:
            self.observe(outcome)
            if then is not None:
                then(outcome)

        return observe

    def observe(self, outcome: Outcome) -> None:
        if outcome.result is AttemptResult.DEAD:
            known = self._channel_facts.get(outcome.channel)
            since = known.dead_since if known and known.dead_since else self.clock()
            self._channel_facts[outcome.channel] = ChannelFact(since, outcome.error)
        elif outcome.result is AttemptResult.DELIVERED:
            self._channel_facts[outcome.channel] = ChannelFact(None)

    def store_error(self, error: BaseException) -> None:
        """Any failure of the store (a full or read-only disk, a damaged file)."""
        if isinstance(error, sqlite3.Error | StoreError | OSError):
            self._store_error = (self.clock(), redact(f"{type(error).__name__}: {error}"))

    # -- the check ----------------------------------------------------------------------------

    def facts(self) -> Facts:
        now = self.clock()
        sources = [
            SourceFact(
                state.name if not state.scope else f"{state.name}/{state.scope}",
                state.last_success_at,
                state.last_error,
            )
            for state in self.store.source_states()
            if (state.name, state.scope) in self.scopes
        ]
        oldest = {
            channel: moment
            for channel, text in self.store.notices.oldest_pending().items()
            if (moment := parse_ts(text)) is not None and channel in self.channels
        }
        error_at, error = self._store_error or (None, None)
        return Facts(
            now=now,
            started_at=self.started_at,
            sources=sources,
            channels=dict(self._channel_facts),
            outbox_oldest=oldest,
            store_error_at=error_at,
            store_error=error,
        )

    async def tick(self) -> int:
        """One check: announce and resolve; returns notices queued. Never raises."""
        if self.spec is None:
            return 0
        return await self._check(self.spec)

    async def _check(self, spec: WatchdogSpec) -> int:
        now = self.clock()
        try:
            current, unknown = troubles(self.facts(), spec)
            announced = self.store.notices.open_troubles()
        except (sqlite3.Error, StoreError) as exc:
            self.store_error(exc)
            current, unknown = troubles(
                Facts(now, self.started_at, store_error_at=now, store_error=str(exc)), spec
            )
            await self._send_directly(spec, decide({}, current, unknown, spec, now))
            return 0
        queued = 0
        for decision in decide(announced, current, unknown, spec, now):
            queued += await self._apply(spec, decision, now)
        if queued and self.on_queued is not None:
            self.on_queued()
        return queued

    async def _apply(self, spec: WatchdogSpec, decision: Decision, now: datetime) -> int:
        routes = [Route(rule=RULE, channel=channel) for channel in spec.channels]
        notices = [] if decision.notice is None else [(decision.notice, routes)]
        if decision.key in self._sent_directly:  # told while the store was down: record only
            notices = []
        if decision.action is Action.ANNOUNCE:
            assert decision.opened is not None
            then = partial(Notices.open_trouble, trouble=decision.opened)
        else:
            then = partial(Notices.close_trouble, key=decision.key)
        try:
            queued = self.store.record_notices(format_ts(now), notices, then=then)
        except (sqlite3.Error, StoreError) as exc:
            self.store_error(exc)
            await self._send_directly(spec, [decision])
            return 0
        self._sent_directly.discard(decision.key)
        log.warning(
            "watchdog_" + decision.action.value,
            trouble=decision.key,
            reason=decision.reason,
            notice_id=None if decision.notice is None else decision.notice.id,
        )
        return queued

    async def _send_directly(self, spec: WatchdogSpec, decisions: Sequence[Decision]) -> None:
        """The store cannot take the notices: straight to the channels, once each."""
        for decision in decisions:
            notice = decision.notice
            if decision.action is not Action.ANNOUNCE or notice is None:
                continue
            if decision.key in self._sent_directly:
                continue
            self._sent_directly.add(decision.key)
            for name in spec.channels:
                await self._send(name, notice)

    async def _send(self, name: str, notice: Event) -> None:
        channel = self.channels.get(name)
        if channel is None:
            return
        try:
            await channel.send(notice, RULE)
            log.warning("watchdog_sent_directly", channel=name, notice_id=notice.id)
        except DeliveryError as exc:
            log.error("watchdog_send_failed", channel=name, error=redact(str(exc)))

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        if self.spec is None:
            return
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.check_every,
            id="watchdog",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
