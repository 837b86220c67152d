"""Standard Webhooks signatures: the secret's key, signing a request, verifying one.

Decoded and signed exactly as the `standardwebhooks` libraries do, so their verifiers agree
with `sign` and ours with theirs (the demo's receiver verifies with `verify`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The request is not signed by the shared secret, or is too old."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64 after an optional `whsec_` prefix."""
    # The "==" admits unpadded secrets; b64decode ignores surplus padding (as the libraries do).
    return base64.b64decode(secret.removeprefix("whsec_") + "==")


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> dict[str, Any]:
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
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("webhook-timestamp is outside the tolerance")
    expected = base64.b64decode(sign(secret_key(secret), msg_id, timestamp, body)[3:])
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        try:
            given = base64.b64decode(value)
        except (binascii.Error, ValueError):
            continue
        if version == "v1" and hmac.compare_digest(given, expected):
            payload: dict[str, Any] = json.loads(body)
            return payload
    raise SignatureError("no signature matches")
