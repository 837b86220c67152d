"""What must never be shown, and how URLs are shown instead.

Three jobs, one concern: a registry of secret strings that `redact` masks wherever text is
logged or displayed; `safe_target`, a URL fit for people (no credentials, query string or
token-like path segments); and the heuristics that find credentials inside a URL, which
both rely on. Pure string work: no settings, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

MASK = "***"
_MIN_SECRET = 4
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_GENERIC = re.compile(
    r"(?P<bearer>(?i:bearer)\s+)[A-Za-z0-9._~+/=-]+"
    r"|(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"
)


def register_secrets(values: Iterable[str]) -> None:
    """Remember strings that must never be shown (api keys, webhook secrets, URL tokens)."""
    global _pattern  # noqa: PLW0603 -- one process-wide registry, rebuilt on registration
    _secrets.update(v for v in values if v and len(v) >= _MIN_SECRET)
    ordered = sorted(_secrets, key=len, reverse=True)
    _pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None


def _generic(match: re.Match[str]) -> str:
    if match.group("bearer"):
        return match.group("bearer") + MASK
    return match.group("scheme") + MASK + "@"


def redact(text: str) -> str:
    """`text` with every registered secret, bearer token and URL password replaced by ***."""
    if _pattern is not None:
        text = _pattern.sub(MASK, text)
    return _GENERIC.sub(_generic, text)


# -- URLs shown to people -------------------------------------------------------------------

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
        seg if not seg or is_plain_segment(seg) else MASK for seg in parts.path.split("/")
    )
    return f"{parts.scheme}://{host}{port}{path}"


# -- credentials inside URLs ----------------------------------------------------------------


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


# A word or a short number: never a credential in an apprise URL's path.
_PLAIN_APPRISE_SEGMENT = re.compile(r"[a-z]{1,15}|[0-9]{1,9}")
# Query keys of apprise URLs whose values are addresses or options, not credentials.
_PLAIN_QUERY_KEYS = frozenset(
    {"to", "from", "cc", "bcc", "format", "mode", "smtp", "port", "name", "verify", "overflow"}
)


def url_secrets(url: str, *, whole: bool) -> list[str]:
    """Credentials inside a URL: userinfo, token-like path segments, query values, and for
    apprise URLs (`whole`) the URL itself and a token in the host's place."""
    parts = urlsplit(url)
    found = [url] if whole else []
    # Token-like path segments: in an apprise URL nearly every segment is a token
    # (slack://A/B/C), in a webhook URL only what looks like one (hooks/T0123ABCD/...).
    segments = [seg for seg in parts.path.split("/") if seg]
    if whole:
        found += [seg for seg in segments if not _PLAIN_APPRISE_SEGMENT.fullmatch(seg)]
    else:
        found += [seg for seg in segments if looks_like_credential(seg)]
    found += [p for p in (parts.password,) if p]
    if parts.username and len(parts.username) >= 6:  # short names are words, not secrets
        found.append(parts.username)
    found += [v for k, v in parse_qsl(parts.query) if k.lower() not in _PLAIN_QUERY_KEYS]
    if whole:
        host = parts.netloc.rpartition("@")[2].split(":")[0]  # as written: tokens keep case
        # slack://TokenA/... keeps a token where the host would be; a dotted name or address
        # (json://127.0.0.1) is a place, and masking it would blank it in every log line.
        if parts.scheme not in ("http", "https", "mailto", "mailtos") and _is_token(host):
            found.append(host)
    return [seg for seg in found if not seg.startswith("#")]  # a Slack #channel is no secret


def _is_token(host: str) -> bool:
    return bool(host) and "." not in host and host.lower() != "localhost" and ":" not in host
