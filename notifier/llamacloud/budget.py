"""One request budget for every scope: `max_requests_per_second`, shared by priority.

A token bucket: `rate` tokens a second, at most one second's worth held, so a cheap cycle's
dozen requests go out at once instead of 1/rate apart, and over any second no more than
the rate (plus what was saved) is spent. Who gets the next token is decided by priority:
a cheap cycle's request is served before a hint's re-read, that before any baseline's, a
baseline's before any sweep's, in arrival order within a class. Sweeps and hints also draw
from buckets of their own, `sweep_share` and `hint_share` of the rate, so neither takes
more than its share even when nothing else is asking (a flood of forged hints cannot starve
the baselines and sweeps).

Which class a request is in travels with the asyncio task (`spending`): the poller marks
a cycle, the sweeper its sweep, and the client asks the budget without either passing
anything through the endpoint functions.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import IntEnum


class Spend(IntEnum):
    """What a request is for, most urgent first."""

    CYCLE = 0  # discovery and refresh: what keeps notifications current
    HINT = 1  # a re-read a native webhook asked for (anyone can send one: held to a share)
    BASELINE = 2  # a scope's first complete listing
    SWEEP = 3  # the safety-net re-listing of the lookback window


@dataclass(slots=True)
class Tally:
    """The requests made under one `spending` block, by its task alone (a shared counter
    would also count what other tasks sent meanwhile)."""

    requests: int = 0


@dataclass(frozen=True, slots=True)
class _Purpose:
    spend: Spend
    scope: str
    tally: Tally


_PURPOSE: ContextVar[_Purpose] = ContextVar("notifier_request_purpose")


@contextmanager
def spending(spend: Spend, scope: str) -> Iterator[Tally]:
    """Mark the requests this task makes from here on as `spend` for `scope`; the tally
    counts them."""
    tally = Tally()
    token = _PURPOSE.set(_Purpose(spend, scope, tally))
    try:
        yield tally
    finally:
        _PURPOSE.reset(token)


_UNMARKED = _Purpose(Spend.CYCLE, "", Tally())


def current_purpose() -> tuple[Spend, str]:
    purpose = _PURPOSE.get(_UNMARKED)
    return purpose.spend, purpose.scope


class _Bucket:
    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)  # one second's worth
        self.tokens = self.capacity
        self._clock = clock
        self._at = clock()

    def refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._at) * self.rate)
        self._at = now

    def wait_for_one(self) -> float:
        """Seconds until a whole token is there (0 if it is)."""
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class RequestBudget:
    """The daemon's one budget of LlamaCloud requests (asyncio-safe, one event loop)."""

    WINDOW = 60.0  # seconds over which `share` is measured

    def __init__(
        self,
        rate: float,
        *,
        sweep_share: float = 0.5,
        hint_share: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._all = _Bucket(rate, clock)
        self._shares = {
            Spend.SWEEP: _Bucket(rate * sweep_share, clock),
            Spend.HINT: _Bucket(rate * hint_share, clock),
        }
        self._queue: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._wakeup: asyncio.TimerHandle | None = None
        self._recent: dict[tuple[str, Spend], deque[float]] = {}
        self.spent: dict[tuple[str, Spend], int] = {}

    async def acquire(self) -> None:
        """Wait for a token for the current task's purpose (see `spending`)."""
        purpose = _PURPOSE.get(_UNMARKED)
        purpose.tally.requests += 1
        spend, scope = purpose.spend, purpose.scope
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((int(spend), next(self._order), future))
        self._serve()
        try:
            await future
        except asyncio.CancelledError:
            self._serve()
            raise
        self._record(scope, spend)

    def share(self, scope: str) -> dict[Spend, float]:
        """The part of the budget each kind of request of `scope` used over the last minute."""
        horizon = self._clock() - self.WINDOW
        out: dict[Spend, float] = {}
        for (owner, spend), times in self._recent.items():
            while times and times[0] < horizon:
                times.popleft()
            if owner == scope:
                out[spend] = len(times) / (self.rate * self.WINDOW)
        return out

    def _record(self, scope: str, spend: Spend) -> None:
        key = (scope, spend)
        self.spent[key] = self.spent.get(key, 0) + 1
        times = self._recent.setdefault(key, deque())
        times.append(self._clock())
        horizon = times[-1] - self.WINDOW
        while times and times[0] < horizon:
            times.popleft()

    def _serve(self) -> None:
        """Hand out tokens while there are any: to the most urgent waiter whose own share (if
        it has one) allows it, so a class held to its share never blocks the others."""
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None
        while True:
            self._queue = [entry for entry in self._queue if not entry[2].done()]
            if not self._queue:
                return
            self._all.refill()
            wait = self._all.wait_for_one()
            chosen = None
            if wait == 0:
                wait = float("inf")
                for entry in sorted(self._queue):
                    own = self._shares.get(Spend(entry[0]))
                    if own is not None:
                        own.refill()
                        if own.wait_for_one() > 0:
                            wait = min(wait, own.wait_for_one())
                            continue
                    chosen = entry
                    break
            if chosen is None:
                loop = asyncio.get_running_loop()
                self._wakeup = loop.call_later(wait, self._serve)
                return
            self._queue.remove(chosen)
            self._all.tokens -= 1
            own = self._shares.get(Spend(chosen[0]))
            if own is not None:
                own.tokens -= 1
            chosen[2].set_result(None)
