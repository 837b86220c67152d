"""A loopback webhook receiver that verifies Standard Webhooks signatures (for the demo)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from notifier.channels.signing import SignatureError, verify


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
