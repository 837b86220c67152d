"""Send through apprise (Slack, email, Teams, Discord, ...) without blocking the event loop.

Each URL gets a message laid out for its kind of target (see core.messages). apprise's own
per-plugin pause between sends is switched off: the outbox worker paces each channel itself.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence, Set
from dataclasses import dataclass
from typing import Any

import apprise

from notifier.channels.base import DeliveryError
from notifier.core.messages import (
    LIMITS,
    Kind,
    Overrides,
    TemplateFailure,
    render_message,
    target_kind,
)
from notifier.core.models import Event
from notifier.core.retry import is_retryable_status

_NOTIFY_TYPE = {
    "failed": apprise.NotifyType.FAILURE,
    "succeeded": apprise.NotifyType.SUCCESS,
    "partial": apprise.NotifyType.WARNING,
    "throttled": apprise.NotifyType.WARNING,
    "cancelled": apprise.NotifyType.WARNING,
}


class UnsupportedURL(ValueError):
    """An apprise URL no plugin reads; the message names the field, never the URL (it holds
    credentials). The CLI reports it as a configuration error."""


@dataclass
class _Target:
    kind: Kind
    label: str  # the URL with credentials masked, for errors
    key: str  # a digest of the URL: which targets took a row survives edits to the list
    apprise: Any  # an apprise.Apprise holding this one URL
    limits: tuple[int, int]


def instantiate(channel: str, index: int, url: str) -> Any:
    """The apprise plugin for one URL of a channel, or UnsupportedURL naming the field: `run`
    and `check` reject the same URLs."""
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        scheme = url.partition("://")[0] if "://" in url else "(none)"
        raise UnsupportedURL(
            f"channels.{channel}.urls[{index}]: apprise does not understand this URL "
            f"(scheme {scheme!r}); see https://github.com/caronc/apprise/wiki"
        )
    return plugin


def _load(name: str, index: int, url: str) -> _Target:
    plugin = instantiate(name, index, url)
    plugin.request_rate_per_sec = 0  # the outbox worker paces sends per channel
    kind = target_kind(url)
    title_max, body_max = LIMITS[kind]
    # Slack and email keep our tighter, readable limits; any other target is cut at its own.
    plugin_title, plugin_body = (
        int(getattr(plugin, a, 0) or 0) for a in ("title_maxlen", "body_maxlen")
    )
    if plugin_title:
        title_max = min(title_max, plugin_title)
    if plugin_body:
        body_max = plugin_body if kind is Kind.TEXT else min(body_max, plugin_body)
    holder = apprise.Apprise()
    holder.add(plugin)
    label = str(plugin.url(privacy=True))
    # 32 bits: enough to tell a channel's few URLs apart, too few to confirm a guessed
    # credential from the database.
    key = hashlib.sha256(url.encode()).hexdigest()[:8]
    return _Target(kind, label, key, holder, (title_max, body_max))


class AppriseTarget:
    """One channel of one or more apprise URLs; every URL must accept for the send to count."""

    def __init__(
        self,
        name: str,
        urls: Sequence[str],
        *,
        overrides: Overrides = Overrides(),  # noqa: B008 -- frozen, shared safely
        rule_overrides: dict[str, Overrides] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.name = name
        self._targets = [_load(name, index, url) for index, url in enumerate(urls)]
        self._overrides = overrides
        self._rule_overrides = rule_overrides or {}
        self._timeout = timeout
        self.targets = [t.label for t in self._targets]
        self.kinds = {t.kind for t in self._targets}

    def _overrides_for(self, rule: str) -> Overrides:
        """A rule's template wins over the channel's, key by key."""
        by_rule = self._rule_overrides.get(rule, Overrides())
        return Overrides(
            title=by_rule.title or self._overrides.title,
            body=by_rule.body or self._overrides.body,
        )

    async def send(self, event: Event, rule: str, done: Set[str] = frozenset()) -> int | None:
        return await self.send_group([event], rule, done)

    async def send_group(
        self, events: Sequence[Event], rule: str, done: Set[str] = frozenset()
    ) -> int | None:
        """One message about all `events` to every URL of the channel not in `done` (the keys
        of those that accepted an earlier attempt). Every URL is tried even when one fails;
        the DeliveryError then says which accepted, so a retry goes only to the rest."""
        overrides = self._overrides_for(rule)
        notify_type = _NOTIFY_TYPE.get(events[0].phase, apprise.NotifyType.INFO)
        accepted = set(done)
        failures: list[DeliveryError] = []
        for target in self._targets:
            if target.key in done:
                continue
            try:
                message = render_message(target.kind, events, rule, overrides, target.limits)
            except TemplateFailure as exc:
                raise DeliveryError(f"channel {self.name!r}: {exc}", retryable=False) from None
            body_format = apprise.NotifyFormat.HTML if message.html else apprise.NotifyFormat.TEXT
            try:
                await self._send_one(target, message.title, message.body, body_format, notify_type)
            except DeliveryError as exc:
                failures.append(exc)
            else:
                accepted.add(target.key)
        if failures:
            raise DeliveryError(
                "; ".join(str(f) for f in failures),
                retryable=any(f.retryable for f in failures),
                status=failures[0].status,
                accepted=frozenset(accepted),
            )
        return None

    async def _send_one(
        self, target: _Target, title: str, body: str, body_format: Any, notify_type: Any
    ) -> None:
        where = f"channel {self.name!r} ({target.label})"
        try:
            result = await asyncio.wait_for(
                target.apprise.async_notify(
                    body=body, title=title, notify_type=notify_type, body_format=body_format
                ),
                timeout=self._timeout,
            )
        except TimeoutError as exc:
            raise DeliveryError(f"{where}: timed out", retryable=True) from exc
        if result:
            return
        # apprise keeps each call's own log lines with its result, so a send running at the
        # same time on another channel cannot lend this one its reason.
        lines = [entry for service in result for entry in service.logs()]
        failures = [e.message for e in lines if e.level in ("ERROR", "WARNING")]
        reason = (failures or [e.message for e in lines] or ["apprise reported a failure"])[-1]
        status = _status_in(reason)
        raise DeliveryError(
            f"{where}: {reason}",
            retryable=status is None or is_retryable_status(status),
            status=status,
        )

    async def close(self) -> None:
        return None


def _status_in(reason: str) -> int | None:
    """The HTTP status apprise names in its error line ("error=500"), if any."""
    marker = "error="
    if marker in reason:
        digits = reason.split(marker, 1)[1][:3]
        if digits.isdigit():
            return int(digits)
    return None
