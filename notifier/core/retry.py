"""The one retry rule of the notifier, for LlamaCloud requests and for deliveries alike.

What is worth another try (`is_retryable_status`), how long to wait (`Backoff`: exponential,
equal jitter, `Retry-After` honoured up to a cap), and when a delivery gives up for good
(`RetryPolicy`). Pure: the caller passes `now` and the random source.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

RETRYABLE_4XX = frozenset({408, 409, 425, 429})
# The longest wait a Retry-After can ask for: past it a target is as good as gone, and a
# timer must still be able to hold the wait ("inf", a date in the year 3000).
RETRY_AFTER_CAP = 3600.0


def is_retryable_status(status: int) -> bool:
    """5xx and the few 4xx that mean "not now" are worth retrying; any other 4xx is final."""
    return status >= 500 or status in RETRYABLE_4XX


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with equal jitter, in seconds.

    The ceiling doubles per failure from `base` up to `cap`; the wait is spread over the
    ceiling's upper half, so each wait is visibly longer than the last and a burst of
    failures does not retry in lockstep. A `Retry-After` is honoured when it asks for
    longer, up to `retry_after_cap` (a poll cycle waits less long than a delivery may).
    """

    base: float = 1.0
    cap: float = 300.0
    retry_after_cap: float = RETRY_AFTER_CAP

    def delay(self, failures: int, rng: random.Random, retry_after: float | None = None) -> float:
        """The wait after `failures` failed tries (1 after the first)."""
        ceiling = min(self.cap, self.base * (1 << min(max(failures - 1, 0), 30)))
        wait = ceiling * (0.5 + rng.random() / 2)
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.retry_after_cap))
        return wait


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A delivery's retries: the shared backoff, bounded by attempts and by the row's age."""

    max_attempts: int = 10
    max_age: timedelta = timedelta(days=1)
    backoff: Backoff = field(default_factory=Backoff)

    def next_attempt(
        self,
        *,
        attempts: int,
        created_at: datetime,
        now: datetime,
        retry_after: float | None,
        rng: random.Random,
    ) -> datetime | None:
        """The time of the next try after `attempts` failed ones, or None to dead-letter.

        A row gives up only once it is `max_age` old: a delay reaching past that is cut to
        one last try at the deadline.
        """
        deadline = created_at + self.max_age
        if attempts >= self.max_attempts or now >= deadline:
            return None
        delay = timedelta(seconds=self.backoff.delay(attempts, rng, retry_after))
        return min(now + delay, deadline)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date), if readable;
    at most RETRY_AFTER_CAP."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # "inf", "1e400", "nan": a wait no timer can hold means "a long time", capped.
        if math.isnan(seconds):
            return None
        return min(max(0.0, seconds), RETRY_AFTER_CAP)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return min(max(0.0, (moment - now).total_seconds()), RETRY_AFTER_CAP)
