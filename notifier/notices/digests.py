"""Digest rules at their cron times: each window's events read back from the log, summed up
(`core.digest`) and recorded as one notice with its outbox rows.

A cursor per rule (the end of the last window done) moves in the same transaction as the
digest it closes, and the digest's id comes from the rule and the window's end: a restart
catches up the windows it slept through, oldest first, and never records one twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from notifier.core.digest import DigestSpec, DigestWindow, Tally, build_digest
from notifier.core.match import MatchFailed
from notifier.core.models import Route
from notifier.core.timestamps import format_ts, parse_ts
from notifier.store.db import Store
from notifier.store.notices import Notices

log = structlog.get_logger(__name__)

# Windows one tick closes at most; a long outage is caught up over the next ticks.
MAX_WINDOWS_PER_TICK = 48
_TICK = timedelta(microseconds=1)
# How far back the start of the first window is looked for: a year covers any crontab.
_SPANS = (timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=367))


def trigger_of(spec: DigestSpec) -> CronTrigger:
    return CronTrigger.from_crontab(spec.schedule, timezone=spec.timezone)


def fires_between(
    trigger: CronTrigger, after: datetime, until: datetime, limit: int
) -> list[datetime]:
    """The schedule's times in (after, until], oldest first, at most `limit`."""
    found: list[datetime] = []
    moment = trigger.get_next_fire_time(None, after + _TICK)
    while moment is not None and moment <= until and len(found) < limit:
        found.append(moment)
        moment = trigger.get_next_fire_time(None, moment + _TICK)
    return found


def last_fire(trigger: CronTrigger, at: datetime) -> datetime | None:
    """The schedule's latest time at or before `at` (None if it has none within a year)."""
    for span in _SPANS:
        fires = fires_between(trigger, at - span, at, limit=100_000)
        if fires:
            return fires[-1]
    return None


class Digests:
    """Closes the due windows of every digest rule; `tick` is safe to call at any time."""

    def __init__(
        self,
        store: Store,
        specs: Sequence[DigestSpec],
        *,
        clock: Callable[[], datetime],
        on_queued: Callable[[], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.store = store
        self.specs = list(specs)
        self.clock = clock
        self.on_queued = on_queued
        self.on_error = on_error  # the daemon stops on a damaged store
        self._triggers = {spec.rule.name: trigger_of(spec) for spec in self.specs}

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Each digest rule at its cron times, a catch-up at once, and a look every minute
        in case a time was missed (a clock step, a tick that failed)."""
        for spec in self.specs:
            scheduler.add_job(
                self.safe_tick,
                self._triggers[spec.rule.name],
                id=f"digest:{spec.rule.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        if self.specs:
            scheduler.add_job(
                self.safe_tick,
                "interval",
                seconds=60,
                id="digests",
                max_instances=1,
                coalesce=True,
                next_run_time=self.clock(),
                misfire_grace_time=None,
            )

    async def safe_tick(self) -> int:
        """`tick` for the scheduler (on the event loop, the store's thread); never raises."""
        try:
            return self.tick()
        except Exception as exc:  # retried on the next tick: the cursor did not move
            if self.on_error is not None:
                self.on_error(exc)
            log.error("digest_failed", error=f"{type(exc).__name__}: {exc}")
            return 0

    def tick(self) -> int:
        """Every window of every rule that ended by now and is not done: returns digests queued
        (rows to send)."""
        now = self.clock()
        queued = sum(self._catch_up(spec, now) for spec in self.specs)
        if queued and self.on_queued is not None:
            self.on_queued()
        return queued

    def _catch_up(self, spec: DigestSpec, now: datetime) -> int:
        name = spec.rule.name
        trigger = self._triggers[name]
        cursor = parse_ts(self.store.notices.digest_cursor(name))
        if cursor is None:
            # First sight of this rule: its first window began at the last scheduled time.
            begin = last_fire(trigger, now) or now
            self.store.record_notices(
                format_ts(now),
                [],
                then=partial(Notices.move_digest_cursor, rule=name, end=format_ts(begin)),
            )
            log.info("digest_scheduled", rule=name, window_start=format_ts(begin))
            return 0
        queued = 0
        start = format_ts(cursor)
        for fire in fires_between(trigger, cursor, now, MAX_WINDOWS_PER_TICK):
            end = format_ts(fire)
            queued += self._close(
                spec, DigestWindow(name, start, end, spec.timezone, spec.schedule)
            )
            start = end
        return queued

    def _close(self, spec: DigestSpec, window: DigestWindow) -> int:
        """One window: tally its events from the log, record the digest and the cursor."""
        tally = Tally()
        failed = 0
        for event in self.store.notices.window_events(window.start, window.end):
            try:
                if spec.rule.when.matches(event):
                    tally.add(event)
            except MatchFailed:
                failed += 1
        digest = build_digest(window, tally, top_errors=spec.top_errors, send_empty=spec.send_empty)
        routes = [Route(rule=window.rule, channel=channel) for channel in spec.rule.channels]
        queued = self.store.record_notices(
            format_ts(self.clock()),
            [] if digest is None else [(digest, routes)],
            then=partial(Notices.move_digest_cursor, rule=window.rule, end=window.end),
        )
        log.info(
            "digest",
            rule=window.rule,
            window_start=window.start,
            window_end=window.end,
            events=tally.events,
            sent=digest is not None,
            digest_id=window.digest_id if digest is not None else None,
            match_failed=failed or None,
        )
        return queued
