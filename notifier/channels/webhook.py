"""POST the event payload to an HTTP endpoint, signed the Standard Webhooks way."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence, Set
from datetime import UTC, datetime

import aiohttp

from notifier.channels.base import DeliveryError
from notifier.channels.signing import secret_key, sign
from notifier.core.models import Event
from notifier.core.render import iso_ms, payload_bytes, webhook_payload
from notifier.core.retry import is_retryable_status, parse_retry_after
from notifier.secrets import safe_target

# Of a target's answer, at most this much is read: a short body keeps the connection for the
# next request; past it the connection is closed, not drained, whatever the target sends.
ANSWER_PREFIX_BYTES = 64 * 1024


async def _read_prefix(response: aiohttp.ClientResponse, limit: int = ANSWER_PREFIX_BYTES) -> bytes:
    """At most `limit` bytes of the body."""
    declared = response.content_length
    if declared is not None and declared > limit:
        return b""  # never read whole: no reason to begin
    data = bytearray()
    while len(data) < limit:
        chunk = await response.content.read(limit - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


class WebhookChannel:
    """One JSON event per POST; `webhook-id` always, signature headers when a secret is set
    (one `v1,` signature per secret, space-separated, while keys rotate)."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        secret: str | None = None,
        secrets: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.url = url
        # Newest first: during a rotation receivers holding either secret verify the request.
        self._keys = [secret_key(s) for s in ([secret] if secret else []) + [*secrets]]
        self._headers = dict(headers or {})
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.target = safe_target(url)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=64),
                headers={"User-Agent": "llamacloud-notifier"},
            )
        return self._session

    def build_request(
        self, event: Event, rule: str, timestamp: int
    ) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers of one attempt (the timestamp is the send time)."""
        body = payload_bytes(event, rule)
        return body, self._sign(event.id, body, timestamp)

    async def send(self, event: Event, rule: str, done: Set[str] = frozenset()) -> int:
        body, headers = self.build_request(event, rule, int(time.time()))
        return await self._post(body, headers)

    def _sign(self, msg_id: str, body: bytes, timestamp: int) -> dict[str, str]:
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
        }
        if self._keys:
            headers["webhook-signature"] = " ".join(
                sign(key, msg_id, timestamp, body) for key in self._keys
            )
        return headers

    async def _post(self, body: bytes, headers: dict[str, str]) -> int:
        where = f"channel {self.name!r} ({self.target})"
        try:
            async with self._client().post(
                self.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await _read_prefix(response)
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except TimeoutError as exc:
            raise DeliveryError(f"{where}: timed out", retryable=True) from exc
        except aiohttp.ClientError as exc:
            reason = type(exc).__name__
            raise DeliveryError(f"{where}: {reason}: {exc}", retryable=True) from exc
        if 200 <= status < 300:
            return status
        raise DeliveryError(
            f"{where}: answered HTTP {status}",
            retryable=is_retryable_status(status),
            status=status,
            retry_after=parse_retry_after(retry_after, datetime.now(UTC)),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class BatchWebhookChannel(WebhookChannel):
    """A webhook channel that opted into batches: a group travels as one signed request.

    The body is `{"type": "batch", "id": ..., "timestamp": ..., "events": [payload, ...]}`;
    the batch id is derived from the event ids, so a retried batch keeps its `webhook-id`.
    """

    async def send_group(
        self, events: Sequence[Event], rule: str, done: Set[str] = frozenset()
    ) -> int:
        ids = "\x1f".join(e.id for e in events)
        batch_id = "bat_" + hashlib.sha256(ids.encode()).hexdigest()[:24]
        body = json.dumps(
            {
                "type": "batch",
                "id": batch_id,
                "timestamp": iso_ms(events[-1].detected_at),
                "events": [webhook_payload(e, rule) for e in events],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        return await self._post(body, self._sign(batch_id, body, int(time.time())))
