"""URLs shown to people: without credentials, query strings or token-like path segments."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# A short lowercase word (`hooks`, `services`, `v1`, `llamacloud`) reads as a place; anything
# else in a path (`T0000/B0000/XXXX` of a Slack webhook, a UUID, a long random string) may be
# the credential itself.
_PLAIN_SEGMENT = re.compile(r"[a-z][a-z0-9._-]{0,15}")
_LONG_NUMBER = re.compile(r"\d{4,}")


def is_plain_segment(segment: str) -> bool:
    """Whether a URL path segment can be shown (a word, not a token)."""
    return bool(_PLAIN_SEGMENT.fullmatch(segment)) and not _LONG_NUMBER.search(segment)


def safe_target(url: str) -> str:
    """The URL without credentials, query string or token-like path segments."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    path = "/".join(
        seg if not seg or is_plain_segment(seg) else "***" for seg in parts.path.split("/")
    )
    return f"{parts.scheme}://{host}{port}{path}"


def looks_like_credential(segment: str) -> bool:
    """Worth masking in every log line: long, or letters and digits mixed (`T0123ABCD`).
    Years, short ids and words (`2026`, `v4`, `LlamaCloud`) stay readable; `safe_target`
    still hides every segment that is not a plain word where a URL is shown whole."""
    if segment.isdigit():
        return len(segment) >= 10
    if len(segment) >= 16:
        return True
    has_digit = any(c.isdigit() for c in segment)
    return len(segment) >= 8 and has_digit and any(c.isalpha() for c in segment)
