"""Reloading the configuration of a running daemon (SIGHUP, `POST /-/reload`).

The file is read and validated as `notifier check` reads it; an invalid one is refused with
the same messages, logged and counted, and the running configuration stays. A valid one
is built in full before anything is swapped, then applied: rules to the events detected
from then on, channels, retry policies, pacing and mutes to every row sent from then on
(rows already queued keep their rule and channel name, so nothing queued is lost). What a
reload cannot change (`core.reloading.LIVE_SECTIONS` names what it can) keeps its running
value, and the answer and the log line name each such key.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from notifier.assemble import (
    build_channels,
    build_policies,
    build_rules,
    build_windows,
    channel_rates,
    secret_values,
)
from notifier.channels.base import Channel
from notifier.config.base import ConfigError
from notifier.config.models import Settings
from notifier.core.mutes import Window
from notifier.core.reloading import LIVE_SECTIONS, ReloadPlan, plan_reload
from notifier.delivery import OutboxWorker
from notifier.logs import configure_logging
from notifier.polling.poller import Poller
from notifier.secrets import register_secrets
from notifier.status.metrics import Metrics
from notifier.store.db import Store

log = structlog.get_logger(__name__)

# How long a replaced channel stays open for the sends that started before the reload.
RETIRE_AFTER = 60.0


class Reloadable(Protocol):
    """The parts of the running daemon a reload reaches."""

    settings: Settings
    windows: list[Window]
    channels: dict[str, Channel]
    poller: Poller
    worker: OutboxWorker
    metrics: Metrics
    store: Store


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What one reload came to: refused with the loader's messages, or the plan applied."""

    ok: bool
    origin: str
    errors: tuple[str, ...] = ()
    plan: ReloadPlan = field(default_factory=ReloadPlan)

    def answer(self) -> tuple[int, dict[str, Any]]:
        """HTTP status and JSON body of `POST /-/reload` (500 when refused, as Alertmanager
        answers a configuration it cannot load)."""
        if not self.ok:
            return 500, {
                "status": "error",
                "error": "invalid configuration: the running configuration stays",
                "errors": list(self.errors),
            }
        return 200, {
            "status": "success",
            "applied": list(self.plan.applied),
            "needs_restart": list(self.plan.needs_restart),
        }


class Reloader:
    """Reads the configuration again and applies what a running daemon can take."""

    def __init__(self, daemon: Reloadable, load: Callable[[], Settings]) -> None:
        self.daemon = daemon
        self.load = load
        self._retiring: set[asyncio.Task[None]] = set()
        self._retired: list[Channel] = []

    def reload(self, origin: str) -> ReloadResult:
        """One reload, synchronous so that two never interleave on the event loop."""
        try:
            new = self.load()
            result = self._apply(new, origin)
        except ConfigError as exc:
            errors = tuple(str(exc).splitlines())
            self.daemon.metrics.alerting.loaded(False)
            log.error("config_reload_refused", origin=origin, errors=list(errors))
            return ReloadResult(False, origin, errors)
        except Exception as exc:  # a bug of ours must not end the daemon: refused, logged
            self.daemon.metrics.alerting.loaded(False)
            log.error("config_reload_failed", origin=origin, error=f"{type(exc).__name__}: {exc}")
            return ReloadResult(False, origin, (f"reload failed: {type(exc).__name__}",))
        self.daemon.metrics.alerting.loaded(True)
        return result

    def on_hangup(self, stop: asyncio.Event) -> None:
        """SIGHUP reloads from now on (until `stop`: a daemon shutting down reloads nothing)."""

        def hangup() -> None:
            if not stop.is_set():
                self.reload("sighup")

        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, hangup)

    def answer(self) -> tuple[int, dict[str, Any]]:
        """`POST /-/reload`."""
        return self.reload("http").answer()

    def _apply(self, new: Settings, origin: str) -> ReloadResult:
        daemon = self.daemon
        old = daemon.settings
        plan = plan_reload(old.model_dump(), new.model_dump())
        # What cannot change while running keeps its running value: the daemon's settings
        # always say what it runs with.
        kept = {name: getattr(old, name) for name in type(old).model_fields}
        effective = new.model_copy(update={k: v for k, v in kept.items() if k not in LIVE_SECTIONS})
        sections = plan.sections()
        # Build everything first (an apprise URL no plugin reads raises ConfigError here),
        # then swap: a refused reload changes nothing.
        rules = build_rules(effective)
        windows = build_windows(effective)
        rebuild = bool(sections & {"channels", "rules", "delivery"})
        channels = build_channels(effective) if rebuild else daemon.channels
        register_secrets(secret_values(effective))
        if "log" in sections:
            log_config = effective.log
            configure_logging(log_config.level, log_config.format, secret_values(effective))
        daemon.poller.rules = rules
        daemon.windows = windows
        daemon.worker.concurrency = effective.delivery.concurrency
        if rebuild:
            self._report_removed(set(daemon.channels) - set(channels))
            retired = daemon.worker.reconfigure(
                channels, build_policies(effective), channel_rates(effective)
            )
            daemon.channels = dict(channels)
            for name in channels:  # 0, not "no data", for a channel the reload added
                for outcome in ("delivered", "retry", "dead"):
                    daemon.metrics.deliveries.labels(name, outcome)
            self._retire(retired)
        daemon.settings = effective
        log.info(
            "config_reloaded",
            origin=origin,
            applied=list(plan.applied),
            needs_restart=list(plan.needs_restart),
            **({"note": "restart to apply needs_restart"} if plan.needs_restart else {}),
        )
        return ReloadResult(True, origin, plan=plan)

    def _report_removed(self, removed: set[str]) -> None:
        """A channel gone from the file: its queued rows wait in the outbox, said out loud."""
        if not removed:
            return
        waiting = self.daemon.store.outbox.oldest_pending()
        for name in sorted(removed):
            log.warning(
                "channel_removed",
                channel=name,
                pending=name in waiting,
                note="its queued rows stay in the outbox and are sent if the channel returns",
            )

    def _retire(self, channels: list[Channel]) -> None:
        """Close replaced channels once the sends they started have had time to end."""
        if not channels:
            return
        self._retired.extend(channels)

        async def close_later() -> None:
            await asyncio.sleep(RETIRE_AFTER)
            for channel in channels:
                if channel in self._retired:
                    self._retired.remove(channel)
                    await channel.close()

        task = asyncio.get_running_loop().create_task(close_later())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        """At shutdown: close every replaced channel now."""
        for task in list(self._retiring):
            task.cancel()
        for channel in self._retired:
            await channel.close()
        self._retired.clear()
