"""When to try a failed delivery again, or to give up on it: one pure decision."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

RETRYABLE_4XX = frozenset({408, 409, 425, 429})
_MAX_RETRY_AFTER = timedelta(hours=1)


def is_retryable_status(status: int) -> bool:
    """5xx and the few 4xx that mean "not now" are worth retrying; any other 4xx is final."""
    return status >= 500 or status in RETRYABLE_4XX


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and by the row's age."""

    max_attempts: int = 10
    max_age: timedelta = timedelta(days=1)
    backoff_base: timedelta = timedelta(seconds=1)
    backoff_max: timedelta = timedelta(minutes=5)

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

        The delay doubles per attempt up to `backoff_max`, then is spread over its upper half
        ("equal jitter") so a burst of failures does not retry in lockstep. A `Retry-After`
        from the target is honoured when it asks for longer. A row gives up only once it is
        `max_age` old: a delay reaching past that is cut to one last try at the deadline.
        """
        deadline = created_at + self.max_age
        if attempts >= self.max_attempts or now >= deadline:
            return None
        ceiling = min(self.backoff_max, self.backoff_base * (1 << min(max(attempts - 1, 0), 30)))
        delay = ceiling * (0.5 + rng.random() / 2)
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(timedelta(seconds=retry_after), _MAX_RETRY_AFTER))
        return min(now + delay, deadline)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date), if readable."""
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
        return min(max(0.0, seconds), _MAX_RETRY_AFTER.total_seconds())
    from email.utils import parsedate_to_datetime  # noqa: PLC0415 -- rare path

    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return min(max(0.0, (moment - now).total_seconds()), _MAX_RETRY_AFTER.total_seconds())
