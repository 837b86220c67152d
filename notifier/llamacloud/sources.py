"""The endpoint calls of each source family: listing pages, job_ids batches, v1 listings."""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import quote

from notifier.core.models import Job
from notifier.core.statuses import ENDPOINTS, SourceType
from notifier.llamacloud.client import ApiError, LlamaCloudClient
from notifier.llamacloud.parsing import Logger, MalformedResponse, parse_page

V2_PATHS = {s.value: ENDPOINTS[s] for s in (SourceType.EXTRACT_V2, SourceType.PARSE_V2)}
V1_PATHS = {s.value: ENDPOINTS[s] for s in (SourceType.EXTRACTION_V1, SourceType.EXTRACT_RUNS_V1)}
MAX_QUERY_BYTES = 7000  # the request line stays under 8 KB with the path and host
# A listing still paging here is cut and its cycle fails (the watermark stays): no answer
# can be taken as complete past it. The poller sizes the cap from its lookback window
# (`max_pages_for`); this default is only for callers that give none.
DEFAULT_MAX_PAGES = 100_000
# Far more jobs than any one scope creates: 10 a second for the whole lookback window.
PLAUSIBLE_JOBS_PER_SECOND = 10.0
_MIN_MAX_PAGES = 1000


def max_pages_for(lookback: timedelta, page_size: int) -> int:
    """The most pages a listing of one lookback window may take before it is cut as endless:
    the window full at `PLAUSIBLE_JOBS_PER_SECOND`, and never fewer than 1,000."""
    jobs = lookback.total_seconds() * PLAUSIBLE_JOBS_PER_SECOND
    return max(_MIN_MAX_PAGES, math.ceil(jobs / max(page_size, 1)))


async def list_v2(
    client: LlamaCloudClient,
    source: str,
    *,
    project_id: str | None,
    created_at_on_or_after: str | None = None,
    created_at_on_or_before: str | None = None,
    status: str | None = None,
    job_ids: Sequence[str] = (),
    job_ids_repeated: bool = True,
    configuration_id: str | None = None,
    page_size: int = 100,
    max_pages: int | None = None,
    log: Logger | None = None,
) -> AsyncIterator[list[Job]]:
    """Each page's jobs, following `next_page_token` until the last page.

    `job_ids` go as one key per id, as LlamaCloud's SDK sends them, or as one comma-separated
    value (`job_ids_repeated=False`). A listing that repeats a page token, or still names a
    next page after `max_pages` (default `DEFAULT_MAX_PAGES`), raises MalformedResponse: its
    cycle fails rather than taking a cut listing for a complete one.
    """
    cap = DEFAULT_MAX_PAGES if max_pages is None else max_pages
    base: list[tuple[str, str]] = [("page_size", str(page_size))]
    for key, value in (
        ("project_id", project_id),
        ("created_at_on_or_after", created_at_on_or_after),
        ("created_at_on_or_before", created_at_on_or_before),
        ("status", status),
        ("configuration_id", configuration_id),
        ("organization_id", client.organization_id),
    ):
        if value:
            base.append((key, value))
    if job_ids_repeated:
        base += [("job_ids", job_id) for job_id in job_ids]
    elif job_ids:
        base.append(("job_ids", ",".join(job_ids)))
    token: str | None = None
    seen_tokens: set[str] = set()
    for pages in itertools.count(1):
        params = base if token is None else [*base, ("page_token", token)]
        body = await client.get_json(V2_PATHS[source], params)
        jobs, token = parse_page(source, body, log)
        yield jobs
        if token is None:
            return
        if token in seen_tokens:
            raise MalformedResponse(f"{source}: the API repeated a page token")
        seen_tokens.add(token)
        if pages >= cap:
            if log is not None:
                log.warning("listing_cut", source=source, pages=pages, max_pages=cap)
            raise MalformedResponse(
                f"{source}: the listing did not end after {pages} pages (the cap); the cycle "
                "fails and its watermark stays"
            )


def id_batches(job_ids: Sequence[str], batch_size: int) -> list[list[str]]:
    """At most `batch_size` ids per batch, and few enough bytes to keep the URL short."""
    batches: list[list[str]] = []
    current: list[str] = []
    size = 0
    for job_id in job_ids:
        cost = len("&job_ids=") + len(quote(job_id, safe=""))
        if current and (len(current) >= batch_size or size + cost > MAX_QUERY_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(job_id)
        size += cost
    if current:
        batches.append(current)
    return batches


@dataclass
class JobIdsEncoding:
    """How each endpoint reads a list of `job_ids`, learned from its answers.

    The API pages say only "array of string". LlamaCloud's SDK repeats the key, one per id
    (`?job_ids=a&job_ids=b`), which is how a FastAPI `list[str]` parameter reads; a server that
    splits one comma-separated value takes only one of those keys (the first or the last, by
    framework), so it matches one id at most. So: repeated first, and a batch of several ids
    whose first page matches fewer than two of them (or that is refused) is asked again as one
    comma-separated value. Whichever form found a job is kept for the rest of the run, per
    source. A source whose probes keep finding nothing (its jobs are gone) settles on the SDK's
    form after a few, rather than paying two requests per batch for ever.
    """

    repeated: dict[str, bool] = field(default_factory=dict)
    inconclusive: dict[str, int] = field(default_factory=dict)

    def known(self, source: str) -> bool | None:
        return self.repeated.get(source)

    def learn(self, source: str, repeated: bool | None) -> None:
        if repeated is not None:
            self.repeated[source] = repeated
            return
        self.inconclusive[source] = self.inconclusive.get(source, 0) + 1
        if self.inconclusive[source] >= _MAX_INCONCLUSIVE:
            self.repeated[source] = True


_REJECTED = (400, 422)
_MAX_INCONCLUSIVE = 5


async def _first_page(
    pages: AsyncIterator[list[Job]], *, refusable: bool = True
) -> list[Job] | None:
    """The first page; None when the server refused this form of `job_ids` (400/422)."""
    try:
        return await anext(pages, None)
    except ApiError as exc:
        if refusable and exc.status in _REJECTED:
            return None
        raise


def _hits(page: list[Job] | None, wanted: set[str]) -> int:
    return len(wanted.intersection(job.job_id for job in page or ()))


async def iter_v2_by_ids(
    client: LlamaCloudClient,
    source: str,
    job_ids: Sequence[str],
    *,
    project_id: str | None,
    encoding: JobIdsEncoding | None = None,
    batch_size: int = 100,
    max_pages: int | None = None,
    log: Logger | None = None,
) -> AsyncIterator[list[Job]]:
    """The current state of these jobs through the `job_ids` filter, a page at a time."""
    encoding = encoding or JobIdsEncoding()

    def pages(batch: list[str], repeated: bool) -> AsyncIterator[list[Job]]:
        return list_v2(
            client,
            source,
            project_id=project_id,
            job_ids=batch,
            job_ids_repeated=repeated,
            page_size=min(100, max(len(batch), 1)),
            max_pages=max_pages,
            log=log,
        )

    for batch in id_batches(job_ids, batch_size):
        known = encoding.known(source)
        has_comma = any("," in i for i in batch)  # such an id can only travel repeated
        if known is not None or len(batch) == 1 or has_comma:
            async for page in pages(batch, known is not False or has_comma):
                yield page
            continue
        # Not known yet: the key repeated, as the SDK sends it. Unless its first page matches
        # two ids, the comma form is asked too, and a job found that way settles it.
        wanted = set(batch)
        chosen = pages(batch, True)
        first = await _first_page(chosen)
        learned: bool | None = True if _hits(first, wanted) else None
        if _hits(first, wanted) < 2:
            comma = pages(batch, False)
            second = await _first_page(comma, refusable=first is not None)
            if _hits(second, wanted):
                chosen, first, learned = comma, second, False
            elif first is None:
                chosen, first = comma, second
        encoding.learn(source, learned)
        if first is not None:
            yield first
            async for page in chosen:
                yield page


async def list_v1(
    client: LlamaCloudClient, source: str, *, extraction_agent_id: str, log: Logger | None = None
) -> list[Job]:
    """The agent's whole listing: v1 endpoints have no paging and no filters."""
    body = await client.get_json(V1_PATHS[source], [("extraction_agent_id", extraction_agent_id)])
    jobs, _ = parse_page(source, body, log)
    return jobs
