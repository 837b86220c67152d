"""What every channel promises the outbox worker: send an event, or raise a DeliveryError."""

from __future__ import annotations

from collections.abc import Set
from typing import Protocol

from notifier.core.models import Event


class DeliveryError(Exception):
    """A target did not accept a message; `retryable` decides between backoff and dead-letter.

    The message names the channel and target (credentials masked) and the reason.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        accepted: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.accepted = accepted  # a channel of several targets: the keys of those that did


class Channel(Protocol):
    """A delivery target. `send` returns the target's status code (None if it has none).

    `done`: for a channel of several targets, the keys of those that accepted an earlier try.
    """

    name: str

    async def send(self, event: Event, rule: str, done: Set[str] = frozenset()) -> int | None: ...

    async def close(self) -> None: ...
