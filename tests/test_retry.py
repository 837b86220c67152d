"""core.retry: backoff, jitter, Retry-After and dead-lettering."""

import random
from datetime import UTC, datetime, timedelta

from notifier.core.retry import RetryPolicy, is_retryable_status, parse_retry_after

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_retryable_statuses() -> None:
    """5xx and 408/409/425/429 retry; other 4xx are permanent."""
    assert all(is_retryable_status(s) for s in (500, 502, 503, 408, 409, 425, 429))
    assert not any(is_retryable_status(s) for s in (400, 401, 403, 404, 410, 422))


def test_backoff_grows_with_jitter_and_caps() -> None:
    """Delays double per attempt within [ceiling/2, ceiling] and stop growing at the cap."""
    policy = RetryPolicy(max_attempts=50, max_age=timedelta(days=30))
    rng = random.Random(1)
    for attempts, ceiling in ((1, 1), (2, 2), (3, 4), (12, 300)):
        when = policy.next_attempt(
            attempts=attempts, created_at=T0, now=T0, retry_after=None, rng=rng
        )
        assert when is not None
        assert timedelta(seconds=ceiling / 2) <= when - T0 <= timedelta(seconds=ceiling)


def test_retry_after_is_honoured() -> None:
    """A target asking for 120 s gets at least 120 s."""
    when = RetryPolicy().next_attempt(
        attempts=1, created_at=T0, now=T0, retry_after=120, rng=random.Random(0)
    )
    assert when == T0 + timedelta(seconds=120)


def test_gives_up_after_attempts_or_age() -> None:
    """max_attempts and max_age both end in dead-letter (None)."""
    policy = RetryPolicy(max_attempts=3, max_age=timedelta(minutes=10))
    rng = random.Random(0)
    assert policy.next_attempt(attempts=3, created_at=T0, now=T0, retry_after=None, rng=rng) is None
    late = T0 + timedelta(minutes=10)
    assert (
        policy.next_attempt(attempts=1, created_at=T0, now=late, retry_after=None, rng=rng) is None
    )


def test_a_delay_past_max_age_becomes_a_last_try_at_the_deadline() -> None:
    """A row is not dead before it is max_age old: the last try lands on the deadline."""
    policy = RetryPolicy(max_attempts=100, max_age=timedelta(seconds=4))
    rng = random.Random(0)
    now = T0 + timedelta(seconds=3)
    deadline = T0 + timedelta(seconds=4)
    for retry_after in (None, 60.0):
        when = policy.next_attempt(
            attempts=5, created_at=T0, now=now, retry_after=retry_after, rng=rng
        )
        assert when == deadline
    assert (
        policy.next_attempt(attempts=6, created_at=T0, now=deadline, retry_after=None, rng=rng)
        is None
    )


def test_a_retry_after_no_timer_can_hold_is_capped() -> None:
    """`inf`, `1e400` or a date in 3000 wait the cap (1 h); NaN is unreadable. Uncapped, the
    next attempt's timedelta overflowed and stopped the channel's delivery loop."""
    for text in ("inf", "1e400", "1e15", "Wed, 01 Jan 3000 00:00:00 GMT"):
        assert parse_retry_after(text, T0) == 3600.0
    assert parse_retry_after("nan", T0) is None
    when = RetryPolicy().next_attempt(
        attempts=1,
        created_at=T0,
        now=T0,
        retry_after=parse_retry_after("1e400", T0),
        rng=random.Random(0),
    )
    assert when == T0 + timedelta(hours=1)


def test_parse_retry_after() -> None:
    """Seconds and HTTP dates both read; garbage reads as None."""
    assert parse_retry_after("7", T0) == 7.0
    assert parse_retry_after("Mon, 23 Nov 2026 10:00:30 GMT", T0) == 30.0
    assert parse_retry_after("soon", T0) is None
    assert parse_retry_after(None, T0) is None
