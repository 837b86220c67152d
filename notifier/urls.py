"""URLs shown to people: without credentials or query strings."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_target(url: str) -> str:
    """The URL without credentials or query string, fit for logs and errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
