"""The simulator pushes too: LlamaCloud's own webhooks for jobs created with a webhook
configuration (or for every job, with a default URL), signed with `LC-Signature`, with a
share dropped, delayed or sent twice, as users report the real ones behave.

Only the events LlamaCloud sends are pushed: extract jobs have no `running` or `throttled`
event; CREATED is `extract.pending`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from notifier.core.statuses import SourceType, native_event
from notifier.simulator.state import JobStore, SimJob

NATIVE_EVENTS = frozenset(
    {
        *(f"extract.{s}" for s in ("pending", "success", "error", "partial_success", "cancelled")),
        *(f"parse.{s}" for s in ("pending", "running", "success", "error", "partial_success")),
        "parse.cancelled",
    }
)


@dataclass
class PushOptions:
    url: str | None = None  # every job pushes here unless it has a webhook of its own
    secret: str | None = None  # signs the body: LC-Signature: sha256=<hex>
    drop: float = 0.0  # share of events never sent
    delay: float = 0.0  # seconds before each is sent
    duplicates: float = 0.0  # share sent twice
    seed: int | None = None


@dataclass
class Pusher:
    """Listens to the job store's status changes and POSTs the native webhooks."""

    options: PushOptions
    sent: int = 0
    dropped: int = 0
    failed: int = 0
    _rng: random.Random = field(default_factory=random.Random)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.options.seed)  # noqa: S311 -- a simulation

    def attach(self, jobs: JobStore) -> None:
        jobs.listeners.append(self.changed)

    def changed(self, job: SimJob, _old: str) -> None:
        target = job.webhook or ({"webhook_url": self.options.url} if self.options.url else None)
        if target is None:
            return
        event = native_event(job.source, job.status)
        wanted = target.get("webhook_events")
        if event not in NATIVE_EVENTS or (isinstance(wanted, list) and event not in wanted):
            return
        if self._rng.random() < self.options.drop:
            self.dropped += 1
            return
        copies = 2 if self._rng.random() < self.options.duplicates else 1
        body = json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": event,
                "timestamp": job.updated_at,
                "data": {
                    "job_id": job.id,
                    "status": job.status,
                    "project_id": job.project_id,
                    "source": SourceType(job.source).value,
                },
            }
        ).encode()
        headers = {"Content-Type": "application/json", **dict(target.get("webhook_headers") or {})}
        if self.options.secret:
            digest = hmac.new(self.options.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["LC-Signature"] = f"sha256={digest}"
        for _ in range(copies):
            task = asyncio.get_running_loop().create_task(
                self._post(str(target["webhook_url"]), body, headers)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, body: bytes, headers: dict[str, Any]) -> None:
        if self.options.delay:
            await asyncio.sleep(self.options.delay)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._session.post(url, data=body, headers=headers) as answer:
                await answer.read()
                self.sent += 1
        except (aiohttp.ClientError, TimeoutError):
            self.failed += 1

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()
