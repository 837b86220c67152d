"""The LlamaCloud HTTP client: bearer auth, the shared request budget, retries with backoff and
Retry-After."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import structlog

from notifier import __version__
from notifier.core.retry import Backoff, is_retryable_status, parse_retry_after
from notifier.llamacloud.budget import RequestBudget

log = structlog.get_logger(__name__)

# A cycle waits for a Retry-After up to 5 minutes; past that, the next cycle tries again.
API_BACKOFF = Backoff(base=0.5, cap=30.0, retry_after_cap=300.0)
# An answer is read up to this many bytes (decompressed) and no further: a page of 100 jobs is
# tens of kilobytes, so past this it is an error of the cycle, not an out-of-memory kill.
MAX_PAGE_BYTES = 32 * 1024 * 1024
# Of an error answer, only what a message needs.
_ERROR_BODY_BYTES = 64 * 1024
_CHUNK = 64 * 1024


class ApiError(Exception):
    """A request that failed for good; `retryable` says whether a later cycle may succeed."""

    def __init__(self, message: str, *, path: str, status: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.path = path
        self.status = status
        self.retryable = retryable


class _Retry(Exception):
    def __init__(self, reason: str, status: int | None, retry_after: float | None) -> None:
        super().__init__(reason)
        self.status = status
        self.retry_after = retry_after


def _http_date(value: str | None) -> datetime | None:
    """An HTTP `Date` header as an aware datetime, or None."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """The body and True, or its first bytes and False when it is longer than `limit`; never
    more than `limit` bytes are read (the connection is then closed, not drained)."""
    declared = response.content_length
    if declared is not None and declared > limit and "Content-Encoding" not in response.headers:
        return b"", False
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), False
        chunks.append(chunk)
    return b"".join(chunks), True


def _int_or_text(digits: str) -> int | str:
    try:
        return int(digits)
    except ValueError:  # past Python's 4,300-digit limit: kept as the text it was
        return digits


def decode_json(body: bytes) -> Any:
    """The JSON of an answer, one bad value costing no more than itself: an invalid UTF-8 byte
    inside a string becomes a lone surrogate (`surrogateescape`), which `parsing` replaces or
    skips with its item; an integer too long for Python stays text. ValueError when the
    document itself cannot be read, RecursionError when it nests past the reader's depth."""
    text = body.decode(json.detect_encoding(body), "surrogateescape")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer past the digit limit; rare, so read again only then
        return json.loads(text, parse_int=_int_or_text)


def _detail(body: object) -> str:
    """The API's `detail`, readable: `query.page_size: ...` for 422 lists."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        parts = []
        for item in detail[:5]:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p is not None)
                parts.append(f"{loc}: {item.get('msg', '')}".strip(": "))
        return "; ".join(parts)
    return str(detail)[:300] if detail is not None else ""


class LlamaCloudClient:
    """One aiohttp session to one LlamaCloud region; the key is only ever in a header."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_requests_per_second: float = 10.0,
        max_retries: int = 5,
        backoff: Backoff = API_BACKOFF,
        organization_id: str | None = None,
        budget: RequestBudget | None = None,
        on_response: Callable[[str, int | None, float], None] | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_page_bytes: int = MAX_PAGE_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": f"llamacloud-notifier/{__version__}",
        }
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # Shared by every scope; `spending` marks what each request is for.
        self.budget = budget or RequestBudget(max_requests_per_second)
        self.max_retries = max_retries
        self.max_page_bytes = max_page_bytes
        self.backoff = backoff
        self.organization_id = organization_id
        self.on_response = on_response
        self._rng = rng or random.Random()  # noqa: S311 -- jitter, not cryptography
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self.requests_sent = 0
        self.errors = 0
        # The API's clock as its last answer's Date header gave it: what its created_at
        # filters compare with, which may differ from ours.
        self.server_time: datetime | None = None

    async def __aenter__(self) -> LlamaCloudClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def get_json(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Any:
        """GET and decode JSON, retrying what a later attempt may fix; else ApiError."""
        query = list(params)
        attempt = 0
        while True:
            try:
                return await self._attempt(path, query)
            except _Retry as retry:
                self.errors += 1
                if attempt >= self.max_retries:
                    raise ApiError(
                        f"GET {path}: {retry} (gave up after {attempt + 1} attempts)",
                        path=path,
                        status=retry.status,
                        retryable=True,
                    ) from None
                wait = self.backoff.delay(attempt + 1, self._rng, retry.retry_after)
                log.warning(
                    "llamacloud_retry",
                    path=path,
                    status=retry.status,
                    reason=str(retry),
                    attempt=attempt + 1,
                    wait=round(wait, 3),
                )
                await self._sleep(wait)
                attempt += 1

    async def _attempt(self, path: str, query: list[tuple[str, str]]) -> Any:
        await self.budget.acquire()
        self.requests_sent += 1
        started = time.monotonic()
        status: int | None = None
        try:
            async with self._client().get(self.base_url + path, params=query) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                server_date = response.headers.get("Date")
                body, complete = b"", True
                if not is_retryable_status(status):  # asked again: its body is not needed
                    limit = self.max_page_bytes if status < 300 else _ERROR_BODY_BYTES
                    body, complete = await _read_at_most(response, limit)
        except TimeoutError:
            self._report(path, None, started)
            raise _Retry("timed out", None, None) from None
        except aiohttp.ClientError as exc:
            self._report(path, None, started)
            raise _Retry(f"{type(exc).__name__}", None, None) from None
        self._report(path, status, started)
        self.server_time = _http_date(server_date) or self.server_time
        if is_retryable_status(status):
            wait = parse_retry_after(retry_after, datetime.now(UTC))
            raise _Retry(f"HTTP {status}", status, wait)
        if not complete and status < 300:
            # Not asked again: the same request would bring the same answer. The next cycle
            # asks anew (its listing may have shrunk).
            raise ApiError(
                f"GET {path}: the answer is larger than {self.max_page_bytes} bytes: raise "
                "llamacloud.max_page_bytes (or, for a paged listing, lower polling.page_size)",
                path=path,
                status=status,
                retryable=False,
            )
        try:
            decoded = decode_json(body) if body and complete else None
        except (ValueError, RecursionError):
            if status < 300:
                raise _Retry("unreadable JSON body", status, None) from None
            decoded = None
        if status in (401, 403):
            raise ApiError(
                f"GET {path}: HTTP {status}: the API key was rejected (check llamacloud.api_key "
                "and the project it may see)",
                path=path,
                status=status,
                retryable=False,
            )
        if status >= 300:
            detail = _detail(decoded)
            raise ApiError(
                f"GET {path}: HTTP {status}" + (f": {detail}" if detail else ""),
                path=path,
                status=status,
                retryable=False,
            )
        return decoded

    def _report(self, path: str, status: int | None, started: float) -> None:
        if self.on_response is not None:
            self.on_response(path, status, time.monotonic() - started)
