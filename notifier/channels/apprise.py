"""Send through apprise (Slack, email, Teams, Discord, ...) without blocking the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import apprise

from notifier.channels.base import DeliveryError
from notifier.core.models import Event
from notifier.core.render import text_message


class AppriseTarget:
    """One channel of one or more apprise URLs; every URL must accept for the send to count.

    Bodies go out as plain text (`NotifyFormat.TEXT`), so apprise escapes them for each
    target: a file named `<!channel>` cannot ping a Slack channel.
    """

    def __init__(
        self,
        name: str,
        urls: Sequence[str],
        *,
        title: str | None = None,
        body: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.name = name
        self._urls = list(urls)
        self._title = title
        self._body = body
        self._timeout = timeout
        asset = apprise.AppriseAsset(body_format=apprise.NotifyFormat.TEXT)
        self._apprise = apprise.Apprise(asset=asset)
        for url in self._urls:
            if not self._apprise.add(url):
                raise ValueError(f"channel {name!r}: apprise does not understand one of its urls")
        self.targets = [
            str(server.url(privacy=True))  # type: ignore[no-untyped-call]
            for server in self._apprise
        ]

    async def send(self, event: Event, rule: str) -> int | None:
        title, body = text_message(event)
        title = self._title or title
        body = self._body or body
        where = f"channel {self.name!r} ({', '.join(self.targets)})"
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            try:
                ok = await asyncio.wait_for(
                    self._apprise.async_notify(
                        body=body, title=title, body_format=apprise.NotifyFormat.TEXT
                    ),
                    timeout=self._timeout,
                )
            except TimeoutError as exc:
                raise DeliveryError(f"{where}: timed out", retryable=True) from exc
            reason = captured.getvalue().strip().splitlines()
        if not ok:
            detail = reason[-1] if reason else "apprise reported a failure"
            raise DeliveryError(f"{where}: {detail}", retryable=True)
        return None

    async def close(self) -> None:
        return None
