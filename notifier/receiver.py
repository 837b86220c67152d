"""A loopback webhook receiver that verifies Standard Webhooks signatures (for the demo)."""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from notifier.channels.webhook import secret_key, sign

TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The request is not signed by the shared secret, or is too old."""


def verify(secret: str, headers: dict[str, str] | Any, body: bytes) -> dict[str, Any]:
    """The decoded payload if its Standard Webhooks signature is valid; else SignatureError."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise SignatureError("webhook-timestamp is not an integer") from exc
    if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("webhook-timestamp is outside the tolerance")
    expected = sign(secret_key(secret), msg_id, timestamp, body).partition(",")[2]
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(
            base64.b64decode(value), base64.b64decode(expected)
        ):
            payload: dict[str, Any] = json.loads(body)
            return payload
    raise SignatureError("no signature matches")


def create_receiver(
    secret: str, on_event: Callable[[dict[str, Any], str], None]
) -> web.Application:
    """POST / -> verify -> `on_event(payload, webhook_id)` -> 204; a bad signature gets 401."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload = verify(secret, request.headers, body)
        except (SignatureError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=401)
        on_event(payload, request.headers["webhook-id"])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/", receive)
    return app
