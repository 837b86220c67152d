"""What every channel promises the outbox worker: send an event, or raise a DeliveryError."""

from __future__ import annotations

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
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class Channel(Protocol):
    """A delivery target. `send` returns the target's status code (None if it has none)."""

    name: str

    async def send(self, event: Event, rule: str) -> int | None: ...

    async def close(self) -> None: ...
