"""Native webhooks as a fast path: queued hints become re-reads of the jobs they name.

The HTTP handler answers LlamaCloud at once and only offers the hint here. A worker drains
the queue: hints are de-duplicated per job and the queue is bounded (a flood is dropped,
counted, and costs nothing), the ids of one scope travel together in `job_ids` batches at
the budget's hint priority, and a hint without a usable id asks for an immediate cycle of
the sources its event points at, at most once a second per source. Whatever a re-read
finds goes through the same diff and transaction as a poll; a hint alone never makes an
event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence

import structlog

from notifier.core.hints import Hint
from notifier.llamacloud.client import ApiError
from notifier.llamacloud.parsing import MalformedResponse
from notifier.polling.cycle import CycleResult
from notifier.polling.poller import V2_SOURCES, Poller, PollTarget
from notifier.store.db import Store

log = structlog.get_logger(__name__)

MAX_QUEUED = 10_000
_CYCLE_EVERY = 1.0  # seconds: the most often a hint without an id may start a source's cycle


class Hinter:
    """Turns queued hints into re-reads; `run` until stopped."""

    def __init__(
        self,
        poller: Poller,
        store: Store,
        targets: Sequence[PollTarget],
        *,
        start_cycle: Callable[[PollTarget], None],
        on_result: Callable[[PollTarget, CycleResult], None] | None = None,
        max_queued: int = MAX_QUEUED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.poller = poller
        self.store = store
        self.targets = list(targets)
        self.start_cycle = start_cycle
        self.on_result = on_result
        self.max_queued = max_queued
        self.clock = clock
        self._queued: OrderedDict[str, tuple[Hint, float]] = OrderedDict()
        self._no_id: list[Hint] = []
        # Sorted out of the queue, by scope: ids the snapshot knows go first, and unknown ids
        # (a new job, or a forged one) wait behind them in a bounded line of their own.
        self._known: dict[str, deque[str]] = {}
        self._unknown: dict[str, deque[str]] = {}
        self._lined: set[str] = set()
        self._wakeup = asyncio.Event()
        self._last_cycle: dict[str, float] = {}
        self.dropped = 0

    def offer(self, hint: Hint) -> bool:
        """Queue a hint; False when the queue is full (the hint is dropped: polling remains)."""
        if hint.job_id is None:
            if len(self._no_id) >= 100:
                self.dropped += 1
                return False
            self._no_id.append(hint)
        elif hint.job_id in self._queued:
            return True  # already on its way: one re-read serves both
        elif len(self._queued) >= self.max_queued:
            self.dropped += 1
            return False
        else:
            self._queued[hint.job_id] = (hint, self.clock())
        self._wakeup.set()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=1.0)
            self._wakeup.clear()
            try:
                await self.drain()
            except Exception as exc:  # a bad hint must never end the fast path
                log.error("hints_failed", error=f"{type(exc).__name__}: {exc}")

    async def drain(self) -> None:
        """Re-read what is queued, one batch per scope at a time, so that hints arriving
        meanwhile (sorted again between rounds) never wait behind a flood of unknown ids."""
        for hint in self._no_id:
            self._cycle_sources(hint)
        self._no_id = []
        while True:
            self._sort()
            batches = []
            for target in self.targets:
                line = self._known.get(target.key) or self._unknown.get(target.key)
                if line:
                    batch = [line.popleft() for _ in range(min(100, len(line)))]
                    self._lined.difference_update(batch)
                    batches.append(self._reread(target, batch))
            if not batches:
                return
            await asyncio.gather(*batches)

    def _sort(self) -> None:
        """Move the queued hints to their scopes' lines."""
        while self._queued:
            job_id, (hint, _) = self._queued.popitem(last=False)
            if job_id in self._lined:
                continue  # already waiting for its re-read
            self._lined.add(job_id)
            known, guesses = self._scopes_of(job_id, hint)
            for target in known:
                self._known.setdefault(target.key, deque()).append(job_id)
            for target in guesses:
                line = self._unknown.setdefault(target.key, deque(maxlen=self.max_queued))
                if len(line) == line.maxlen:
                    self.dropped += 1
                    self._lined.discard(line[0])
                line.append(job_id)

    def _scopes_of(self, job_id: str, hint: Hint) -> tuple[list[PollTarget], list[PollTarget]]:
        """(the scope that owns the job, []) when the snapshot knows it, else ([], every v2
        scope of the families the event names); v1 sources have no id filter: their next
        cycle is asked for instead."""
        families = {s.value for s in hint.sources}
        owners = set(self.store.locate(job_id, families & V2_SOURCES))
        if owners:
            return [t for t in self.targets if (t.source, t.scope) in owners], []
        for target in self.targets:
            if target.source in families and target.source not in V2_SOURCES:
                self._start(target)
        return [], [t for t in self.targets if t.source in families & V2_SOURCES]

    def _cycle_sources(self, hint: Hint) -> None:
        families = {s.value for s in hint.sources}
        for target in self.targets:
            if target.source in families:
                self._start(target)

    def _start(self, target: PollTarget) -> None:
        now = self.clock()
        if now - self._last_cycle.get(target.key, -_CYCLE_EVERY) >= _CYCLE_EVERY:
            self._last_cycle[target.key] = now
            self.start_cycle(target)

    async def _reread(self, target: PollTarget, job_ids: list[str]) -> None:
        try:
            result = await self.poller.recheck(target, job_ids)
        except (ApiError, MalformedResponse) as exc:
            log.warning("hint_reread_failed", source=target.key, error=str(exc))
            return  # the next cycle sees the jobs anyway
        if self.on_result is not None:
            self.on_result(target, result)
