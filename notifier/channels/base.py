"""What every channel promises the outbox worker: send an event, or raise a DeliveryError.

A channel that can carry a whole group in one message (Slack, email, a batch webhook) is
also a `GroupChannel`; the worker sends such a group once instead of once per event.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class GroupChannel(Channel, Protocol):
    """A channel that sends several events of one group as a single message."""

    async def send_group(
        self, events: Sequence[Event], rule: str, done: Set[str] = frozenset()
    ) -> int | None: ...
