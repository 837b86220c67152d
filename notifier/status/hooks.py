"""The native webhook endpoint: LlamaCloud's own POSTs, authenticated, answered at once.

202 for an accepted hint, 401 for bad authentication, 400 for a body that is not a JSON
object, 413 for one over 1 MiB; none of these creates an event. The hint is only offered
to the queue (`polling.hints`); the re-read happens after the answer, so LlamaCloud never
waits and never retries because of us. `http.token` does not apply here: LlamaCloud cannot
send it; the hint's own secret or token does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from notifier.core.hints import (
    MAX_HINT_BYTES,
    BadHint,
    Hint,
    bearer_matches,
    read_hint,
    signature_matches,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class NativeHooks:
    """Where the endpoint listens, what it checks, and whom it tells."""

    path: str
    secret: str | None
    token: str | None
    offer: Callable[[Hint], bool]
    count: Callable[[str, str], None]  # (source family or "unknown", outcome)


async def _bounded_body(request: web.Request) -> bytes | None:
    """The body, or None when it is over MAX_HINT_BYTES (read no further than that)."""
    if request.content_length is not None and request.content_length > MAX_HINT_BYTES:
        return None
    body = await request.content.read(MAX_HINT_BYTES + 1)
    return None if len(body) > MAX_HINT_BYTES else body


def hook_handler(hooks: NativeHooks) -> Handler:
    async def receive(request: web.Request) -> web.Response:
        body = await _bounded_body(request)
        if body is None:
            hooks.count("unknown", "rejected")
            return web.json_response({"error": "body over 1 MiB"}, status=413)
        # Both checks run whatever the first one says: the time taken tells nothing.
        token_ok = hooks.token is None or bearer_matches(
            hooks.token, request.headers.get("Authorization")
        )
        signature_ok = hooks.secret is None or signature_matches(
            hooks.secret, body, request.headers.get("LC-Signature")
        )
        if not (token_ok and signature_ok):
            hooks.count("unknown", "rejected")
            return web.json_response({"error": "authentication failed"}, status=401)
        try:
            hint = read_hint(body)
        except BadHint as exc:
            hooks.count("unknown", "rejected")
            return web.json_response({"error": str(exc)}, status=400)
        queued = hooks.offer(hint)
        family = (hint.event or "unknown").partition(".")[0]
        hooks.count(family, "accepted" if queued else "dropped")
        return web.json_response({"accepted": True, "queued": queued}, status=202)

    return receive
