"""The simulator's jobs: an in-memory, sorted index per family, and scripted lifecycles.

Imports only `notifier.core` (statuses, timestamps), so the simulator runs alone.
"""

from __future__ import annotations

import bisect
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from notifier.core.statuses import SourceType, is_terminal
from notifier.core.timestamps import format_ts

DEFAULT_AGENT = "00000000-0000-0000-0000-000000000001"
DEFAULT_PROJECT = "prj-00000000-0000-0000-0000-000000000000"
ID_PREFIX = {
    SourceType.EXTRACT_V2: "ext-",
    SourceType.PARSE_V2: "pjb-",
    SourceType.EXTRACTION_V1: "",
    SourceType.EXTRACT_RUNS_V1: "",
}

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class SimJob:
    """One fake job. Times are canonical UTC text, so they sort as strings."""

    source: SourceType
    id: str
    status: str
    project_id: str
    created_at: str
    updated_at: str
    name: str
    extraction_agent_id: str | None = None
    configuration_id: str | None = None
    error_message: str | None = None
    file_id: str = ""
    script: list[tuple[str, float]] = field(default_factory=list)
    step_started: datetime | None = None
    # Created with a webhook configuration: LlamaCloud pushes its events there.
    webhook: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.created_at, self.id)


class JobStore:
    """All jobs of all families, with lifecycles advanced lazily on each request."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock
        self.by_id: dict[str, SimJob] = {}
        self.index: dict[SourceType, list[tuple[str, str]]] = {s: [] for s in SourceType}
        self.scripted: set[str] = set()
        self.paused = False
        # Called as listener(job, old_status) after each status change.
        self.listeners: list[Callable[[SimJob, str], None]] = []

    def _changed(self, job: SimJob, old: str) -> None:
        if job.status != old:
            for listener in self.listeners:
                listener(job, old)

    def add(self, job: SimJob) -> SimJob:
        if job.id in self.by_id:
            raise ValueError(f"job {job.id} exists")
        self.by_id[job.id] = job
        bisect.insort(self.index[job.source], job.key)
        if job.script:
            job.step_started = job.step_started or self.clock()
            self.scripted.add(job.id)
        self._changed(job, "")  # a new job's first status is an event too (`extract.pending`)
        return job

    def create(
        self,
        source: SourceType,
        status: str = "PENDING",
        *,
        created_at: datetime | None = None,
        job_id: str | None = None,
        project_id: str | None = None,
        name: str | None = None,
        extraction_agent_id: str | None = None,
        configuration_id: str | None = None,
        error_message: str | None = None,
        script: list[tuple[str, float]] | None = None,
        webhook: dict[str, Any] | None = None,
    ) -> SimJob:
        now = self.clock()
        stamp = format_ts(created_at or now)
        if source in (SourceType.EXTRACTION_V1, SourceType.EXTRACT_RUNS_V1):
            extraction_agent_id = extraction_agent_id or DEFAULT_AGENT
        return self.add(
            SimJob(
                source=source,
                id=job_id or f"{ID_PREFIX[source]}{uuid.uuid4()}",
                status=status,
                project_id=project_id or DEFAULT_PROJECT,
                created_at=stamp,
                updated_at=max(stamp, format_ts(now)),
                name=name or f"document-{uuid.uuid4().hex[:8]}.pdf",
                extraction_agent_id=extraction_agent_id,
                configuration_id=configuration_id,
                error_message=error_message,
                file_id=f"dfl-{uuid.uuid4()}",
                script=list(script or []),
                webhook=webhook,
            )
        )

    def set_status(self, job_id: str, status: str, error_message: str | None = None) -> SimJob:
        job = self.by_id[job_id]
        old = job.status
        job.status = status
        job.error_message = error_message
        job.updated_at = max(format_ts(self.clock()), job.updated_at)
        job.script = []
        self.scripted.discard(job_id)
        self._changed(job, old)
        return job

    def advance(self) -> None:
        """Move every scripted job along its script up to now."""
        if self.paused:
            return
        now = self.clock()
        for job_id in list(self.scripted):
            job = self.by_id[job_id]
            while job.script and job.step_started is not None:
                dwell = timedelta(seconds=job.script[0][1])
                if now < job.step_started + dwell:
                    break
                job.step_started += dwell
                job.script.pop(0)
                if job.script:
                    old, job.status = job.status, job.script[0][0]
                    job.updated_at = format_ts(job.step_started)
                    if job.status in ("FAILED", "ERROR"):
                        job.error_message = "simulated failure: the document could not be read"
                    self._changed(job, old)
            if len(job.script) <= 1:
                self.scripted.discard(job_id)

    def newest_first(
        self, source: SourceType, low: str | None, high: str | None, before: tuple[str, str] | None
    ) -> Iterator[SimJob]:
        """Jobs with low <= created_at <= high, newest first, strictly after the keyset `before`."""
        index = self.index[source]
        start = 0 if low is None else bisect.bisect_left(index, (low, ""))
        stop = len(index) if high is None else bisect.bisect_right(index, (high, "\U0010ffff"))
        if before is not None:
            stop = min(stop, bisect.bisect_left(index, before))
        for position in range(stop - 1, start - 1, -1):
            yield self.by_id[index[position][1]]

    def bulk_terminal(
        self,
        source: SourceType,
        count: int,
        *,
        project_id: str | None = None,
        start: datetime | None = None,
        status: str = "COMPLETED",
    ) -> None:
        """Many finished jobs at once (benchmarks): one second apart, ending `start`."""
        end = start or self.clock() - timedelta(hours=1)
        keys = self.index[source]
        for n in range(count):
            stamp = format_ts(end - timedelta(seconds=n))
            job = SimJob(
                source,
                f"{ID_PREFIX[source]}{uuid.UUID(int=random.getrandbits(128))}",
                status,
                project_id or DEFAULT_PROJECT,
                stamp,
                stamp,
                f"bulk-{n}.pdf",
                DEFAULT_AGENT
                if source not in (SourceType.EXTRACT_V2, SourceType.PARSE_V2)
                else None,
            )
            self.by_id[job.id] = job
            keys.append(job.key)
        keys.sort()


# Lifecycles the scenario generator picks from: (status, seconds in it) steps; the last step
# is where the job stays.
LIFECYCLES: dict[SourceType, list[list[str]]] = {
    SourceType.EXTRACT_V2: [
        ["PENDING", "RUNNING", "COMPLETED"],
        ["PENDING", "RUNNING", "FAILED"],
        ["PENDING", "THROTTLED", "RUNNING", "COMPLETED"],
        ["PENDING", "RUNNING", "THROTTLED", "RUNNING", "COMPLETED"],
        ["PENDING", "CANCELLED"],
    ],
    SourceType.PARSE_V2: [
        ["PENDING", "RUNNING", "COMPLETED"],
        ["PENDING", "RUNNING", "FAILED"],
        ["PENDING", "CANCELLED"],
    ],
    SourceType.EXTRACTION_V1: [
        ["PENDING", "SUCCESS"],
        ["PENDING", "ERROR"],
        ["PENDING", "PARTIAL_SUCCESS"],
        ["PENDING", "CANCELLED"],
    ],
    SourceType.EXTRACT_RUNS_V1: [
        ["CREATED", "PENDING", "SUCCESS"],
        ["CREATED", "PENDING", "ERROR"],
    ],
}


def random_script(
    source: SourceType, rng: random.Random, dwell: tuple[float, float]
) -> list[tuple[str, float]]:
    path = rng.choice(LIFECYCLES[source])
    return [(status, 0.0 if is_terminal(status) else rng.uniform(*dwell)) for status in path]


def describe(job: SimJob) -> dict[str, Any]:
    """A short summary for logs and the control API."""
    return {"id": job.id, "source": job.source.value, "status": job.status}
