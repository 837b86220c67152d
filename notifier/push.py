"""The push path's wiring: the native webhook endpoint's callbacks, the hint queue, and the
audit of LlamaCloud's own webhooks with its metrics.

Kept out of `daemon` so that one file says how a native webhook becomes a re-read and a
verdict: `hooks` builds the endpoint's settings, `offer` queues a hint, `detected` tells the
audit what a cycle or a re-read found, `tick` expires what waited too long.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence

from notifier.core.audit import NativeAudit, Verdict
from notifier.core.hints import Hint
from notifier.core.models import Event
from notifier.polling.cycle import CycleResult
from notifier.polling.hints import Hinter
from notifier.polling.poller import Poller, PollTarget
from notifier.status.hooks import NativeHooks
from notifier.status.metrics import Metrics
from notifier.store.db import Store


class PushPath:
    """Hints in, re-reads out, and every expected webhook audited."""

    def __init__(
        self,
        poller: Poller,
        store: Store,
        targets: Sequence[PollTarget],
        metrics: Metrics,
        *,
        pushed: Collection[str],
        start_cycle: Callable[[PollTarget], None],
        next_run: Callable[[str], float | None],
    ) -> None:
        self.metrics = metrics
        self.pushed = set(pushed)  # sources marked native_webhooks: true
        self.next_run = next_run
        self.audit = NativeAudit()
        self.hinter = Hinter(
            poller, store, targets, start_cycle=start_cycle, on_result=self._reread
        )

    def hooks(self, path: str, secret: str | None, token: str | None) -> NativeHooks | None:
        """The endpoint's settings and callbacks; None (the path is off) without a secret or
        a token."""
        if secret is None and token is None:
            return None
        return NativeHooks(path, secret, token, offer=self.offer, count=self._count)

    def offer(self, hint: Hint) -> bool:
        if hint.job_id is not None:
            self._report(self.audit.hint(hint.job_id, time.time()))
        return self.hinter.offer(hint)

    def detected(self, target: PollTarget, events: list[Event], polled_at: float | None) -> None:
        """What a cycle (`polled_at` None: now) or a hint's re-read found, for the audit."""
        now = time.time()
        for event in events:
            if event.type != "job.status_changed" or event.from_status is None:
                continue
            self._report(
                self.audit.detected(
                    target.name,
                    event.job_id,
                    now,
                    expected=target.name in self.pushed,
                    polled_at=polled_at,
                )
            )

    def tick(self) -> None:
        for verdict in self.audit.expire(time.time()):
            self._report(verdict)

    def _reread(self, target: PollTarget, result: CycleResult) -> None:
        self.metrics.hint_rereads.labels(target.name).inc(result.requests)
        # Polling alone would have seen it at the scope's next cycle.
        self.detected(target, result.events, self.next_run(target.key))

    def _count(self, family: str, outcome: str) -> None:
        self.metrics.hook_requests.labels(outcome).inc()
        if outcome == "rejected":
            self._report(self.audit.rejected(family, time.time()))

    def _report(self, verdict: Verdict | None) -> None:
        if verdict is not None:
            self.metrics.native_webhooks.labels(verdict.source, verdict.outcome.value).inc()
