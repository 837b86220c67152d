"""channels.webhook: the request a receiver sees, checked by the independent `standardwebhooks`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from notifier.channels.base import DeliveryError
from notifier.channels.webhook import WebhookChannel
from notifier.core.samples import sample_event
from notifier.secrets import safe_target
from tests.harness import WEBHOOK_SECRET, serve

EVENT = sample_event(
    id="evt_0123456789abcdef01234567",
    source="parse_v2",
    job_id="pjb-1",
    to_status="COMPLETED",
    job={"id": "pjb-1", "status": "COMPLETED", "name": "naïve <doc>.pdf"},
)


class Target:
    """A loopback endpoint answering with scripted statuses and recording each request."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.url = ""


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    state = Target()

    async def handle(request: web.Request) -> web.Response:
        state.requests.append((dict(request.headers), await request.read()))
        status, headers = state.answers.pop(0) if state.answers else (200, {})
        return web.Response(status=status, headers=headers)

    app = web.Application()
    app.router.add_post("/in", handle)
    runner, base = await serve(app)
    state.url = f"{base}/in"
    yield state
    await runner.cleanup()


async def test_signed_request_verifies_with_standardwebhooks(target: Target) -> None:
    """Body, content type and the three Standard Webhooks headers verify independently."""
    channel = WebhookChannel("hook", target.url, secret=WEBHOOK_SECRET, headers={"X-Team": "docs"})
    assert await channel.send(EVENT, "done") == 200
    await channel.close()
    headers, body = target.requests[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Team"] == "docs"
    assert headers["webhook-id"] == EVENT.id
    payload = Webhook(WEBHOOK_SECRET).verify(body, headers)
    assert payload["data"]["job"]["name"] == "naïve <doc>.pdf"
    assert payload["data"]["rule"] == "done"
    assert json.loads(body) == payload


async def test_unsigned_still_sends_webhook_id(target: Target) -> None:
    """Without a secret there is no signature, but receivers can still deduplicate."""
    channel = WebhookChannel("hook", target.url)
    await channel.send(EVENT, "done")
    await channel.close()
    headers, _ = target.requests[0]
    assert headers["webhook-id"] == EVENT.id and "webhook-signature" not in headers


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (503, True),
        (408, True),
        (409, True),
        (425, True),
        (429, True),
        (400, False),
        (404, False),
        (410, False),
        (301, False),
    ],
)
async def test_status_classification(target: Target, status: int, retryable: bool) -> None:
    """5xx and 408/409/425/429 are retried; other 4xx (and redirects) are permanent."""
    target.answers.append((status, {"Retry-After": "7", "Location": "http://127.0.0.1:1/"}))
    channel = WebhookChannel("hook", target.url)
    with pytest.raises(DeliveryError) as caught:
        await channel.send(EVENT, "r")
    await channel.close()
    assert caught.value.retryable is retryable
    assert caught.value.status == status
    assert caught.value.retry_after == 7.0
    assert f"HTTP {status}" in str(caught.value) and "'hook'" in str(caught.value)


async def test_unreachable_target_is_retryable_and_masks_credentials() -> None:
    """A refused connection is retryable; the error names the target without its password."""
    channel = WebhookChannel(
        "hook", "http://user:hunter2secret@127.0.0.1:9/in?token=abc123secret", timeout=2
    )
    with pytest.raises(DeliveryError) as caught:
        await channel.send(EVENT, "r")
    await channel.close()
    assert caught.value.retryable
    assert "hunter2secret" not in str(caught.value) and "abc123secret" not in str(caught.value)
    assert safe_target("https://u:p@example.com:8443/a/b?x=1") == "https://example.com:8443/a/b"
    assert (
        safe_target("https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXsecret")
        == "https://hooks.slack.com/services/***/***/***"
    )
    assert (
        safe_target("http://127.0.0.1:9/hook/3f2a9c1e-77aa-4e0b-9d51-0c2d4e8f6a10/v1")
        == "http://127.0.0.1:9/hook/***/v1"
    )


async def test_batch_channel_sends_a_group_as_one_signed_request(target: Target) -> None:
    """Opted-in batches: one request, every payload inside, a stable id across retries."""
    from dataclasses import replace

    from notifier.channels.webhook import BatchWebhookChannel

    events = [replace(EVENT, id=f"evt_{n:024d}", job_id=f"pjb-{n}") for n in range(3)]
    channel = BatchWebhookChannel("batch", target.url, secret=WEBHOOK_SECRET)
    await channel.send_group(events, "digest")
    await channel.send_group(events, "digest")
    await channel.close()
    (first_headers, body), (second_headers, _) = target.requests
    payload = Webhook(WEBHOOK_SECRET).verify(body, first_headers)
    assert payload["type"] == "batch" and payload["id"] == first_headers["webhook-id"]
    assert [e["data"]["job_id"] for e in payload["events"]] == ["pjb-0", "pjb-1", "pjb-2"]
    assert first_headers["webhook-id"] == second_headers["webhook-id"]
