"""Settings -> the plain values and objects everything below the daemon is built from.

The only module besides `cli` and `daemon` that reads settings: poll targets, rules, mute
windows, channels with their pacing and retry policies, and the secrets logs must mask.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from notifier.channels.base import Channel
from notifier.channels.webhook import BatchWebhookChannel, WebhookChannel
from notifier.config.base import ConfigError
from notifier.config.models import Settings
from notifier.config.routing import (
    AppriseChannelConfig,
    RuleConfig,
    WebhookChannelConfig,
    WhenConfig,
)
from notifier.core.digest import DigestSpec
from notifier.core.match import compile_match
from notifier.core.messages import Kind, Overrides, target_kind
from notifier.core.mutes import Window
from notifier.core.retry import Backoff, RetryPolicy
from notifier.core.rules import Rule, When, as_set
from notifier.core.watchdog import WatchdogSpec
from notifier.notices.watchdog import Watchdog
from notifier.polling.poller import PollOptions, PollTarget
from notifier.polling.sweep import SweepOptions
from notifier.secrets import url_secrets
from notifier.store.db import Store


def build_targets(settings: Settings) -> list[PollTarget]:
    """One target per (source, project) for v2 and per (source, agent) for v1."""
    targets: list[PollTarget] = []
    default_project = settings.llamacloud.project_id
    stuck_default = settings.polling.stuck_after
    for source in settings.sources:
        name = source.name or source.type.value
        common = {
            "name": name,
            "source": source.type.value,
            "statuses": tuple(source.statuses),
            "configuration_id": source.configuration_id,
            "stuck_after": source.stuck_after or stuck_default,
        }
        if source.extraction_agent_ids:
            targets.extend(
                PollTarget(scope=agent, extraction_agent_id=agent, **common)  # type: ignore[arg-type]
                for agent in source.extraction_agent_ids
            )
            continue
        projects: list[str | None] = [*source.project_ids] or [default_project]
        targets.extend(
            PollTarget(scope=project or "", project_id=project, **common)  # type: ignore[arg-type]
            for project in projects
        )
    return targets


def _when(spec: WhenConfig | None) -> When | None:
    if spec is None:
        return None
    return When(
        event=as_set(spec.event),
        source=as_set(spec.source),
        status=as_set(spec.status),
        from_status=as_set(spec.from_status),
        phase=as_set(spec.phase),
        project_id=as_set(spec.project_id),
        configuration_id=as_set(spec.configuration_id),
        extraction_agent_id=as_set(spec.extraction_agent_id),
        name=None if spec.name is None else tuple(spec.name),
        error_message=None
        if spec.error_message is None
        else tuple(re.compile(p) for p in spec.error_message),
        negated=_when(spec.not_),
        match=None if spec.match is None else compile_match(spec.match),
    )


def _rule(rule: RuleConfig) -> Rule:
    return Rule(
        name=rule.name,
        when=_when(rule.when) or When(),
        channels=tuple(rule.notify),
        stop=not rule.continue_,
        group_by=tuple(rule.group_by),
        group_wait=None if rule.group_wait is None else rule.group_wait.total_seconds(),
        group_interval=(rule.group_interval or timedelta(minutes=5)).total_seconds(),
        repeat_interval=None
        if rule.repeat_interval is None
        else rule.repeat_interval.total_seconds(),
    )


def build_rules(settings: Settings) -> list[Rule]:
    """The rules that route each event as it is detected (digest rules wait for their time)."""
    return [_rule(rule) for rule in settings.rules if rule.digest is None]


def build_digests(settings: Settings) -> list[DigestSpec]:
    """The digest rules: their matchers and channels, and their schedules."""
    return [
        DigestSpec(
            rule=_rule(rule),
            schedule=rule.digest.schedule,
            timezone=rule.digest.timezone,
            send_empty=rule.digest.send_empty,
            top_errors=rule.digest.top_errors,
        )
        for rule in settings.rules
        if rule.digest is not None
    ]


def build_windows(settings: Settings) -> list[Window]:
    return [
        Window(
            name=m.name,
            rules=frozenset(m.rules),
            channels=frozenset(m.channels),
            days=frozenset(m.days),
            start=m.start,
            end=m.end,
            timezone=m.timezone,
        )
        for m in settings.mutes
    ]


def channel_rates(settings: Settings) -> dict[str, float | None]:
    """Sends per second per channel: configured, else about one a second for Slack."""
    rates: dict[str, float | None] = {}
    for name, spec in settings.channels.items():
        rate = spec.rate_per_second
        if rate is None and isinstance(spec, AppriseChannelConfig):
            kinds = {target_kind(u.get_secret_value()) for u in spec.urls}
            rate = 1.0 if Kind.SLACK in kinds else None
        rates[name] = rate
    return rates


def build_channels(settings: Settings) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for name, spec in settings.channels.items():
        if isinstance(spec, WebhookChannelConfig):
            kind = BatchWebhookChannel if spec.batch else WebhookChannel
            channels[name] = kind(
                name,
                spec.url,
                secrets=spec.signing_secrets(),
                headers=spec.headers,
                timeout=spec.timeout.total_seconds(),
            )
        elif isinstance(spec, AppriseChannelConfig):
            channels[name] = _apprise_channel(settings, name, spec)
    return channels


def _apprise_channel(settings: Settings, name: str, spec: AppriseChannelConfig) -> Channel:
    """An apprise channel; a URL apprise cannot read is a configuration error."""
    from notifier.channels.apprise import (  # noqa: PLC0415 -- apprise loads ~130 plugins
        AppriseTarget,
        UnsupportedURL,
    )

    try:
        return AppriseTarget(
            name,
            [url.get_secret_value() for url in spec.urls],
            overrides=Overrides(spec.title, spec.body),
            rule_overrides={
                rule.name: Overrides(rule.title, rule.body)
                for rule in settings.rules
                if name in rule.notify and (rule.title or rule.body)
            },
            timeout=spec.timeout.total_seconds(),
        )
    except UnsupportedURL as exc:
        raise ConfigError(str(exc)) from None


def build_policies(settings: Settings) -> dict[str, RetryPolicy]:
    delivery = settings.delivery
    return {
        name: RetryPolicy(
            max_attempts=spec.max_attempts or delivery.max_attempts,
            max_age=spec.max_age or delivery.max_age,
            backoff=Backoff(
                base=delivery.backoff_base.total_seconds(),
                cap=delivery.backoff_max.total_seconds(),
            ),
        )
        for name, spec in settings.channels.items()
    }


def poll_options(settings: Settings) -> PollOptions:
    polling = settings.polling
    return PollOptions(
        lookback=polling.lookback,
        overlap=polling.overlap,
        initial_sync=polling.initial_sync,
        page_size=polling.page_size,
        job_ids_batch=polling.job_ids_batch,
        probe_when_idle=polling.active_interval is None,
    )


def sweep_options(settings: Settings) -> SweepOptions:
    polling = settings.polling
    return SweepOptions(
        every=polling.sweep_period, lookback=polling.lookback, page_size=polling.page_size
    )


def secret_values(settings: Settings) -> list[str]:
    """Every string that must never be logged: keys, secrets, apprise URLs and their parts."""
    values = [settings.llamacloud.api_key.get_secret_value()]
    native = settings.native_webhooks
    values += [
        given.get_secret_value()
        for given in (settings.http.token, native.secret, native.token)
        if given is not None
    ]
    for channel in settings.channels.values():
        if isinstance(channel, WebhookChannelConfig):
            for secret in channel.signing_secrets():
                values += [secret, secret.removeprefix("whsec_")]
            values += url_secrets(channel.url, whole=False)
        else:
            for url in channel.urls:
                values += url_secrets(url.get_secret_value(), whole=True)
    return [v for v in dict.fromkeys(values) if len(v) >= 4]


def watchdog_spec(settings: Settings) -> WatchdogSpec | None:
    """What the watchdog watches and whom it tells; None when `watchdog.notify` is empty."""
    watchdog = settings.watchdog
    if not watchdog.enabled:
        return None
    return WatchdogSpec(
        channels=tuple(watchdog.notify),
        source_failing_for=watchdog.source_failing_for,
        outbox_older_than=watchdog.outbox_older_than,
        channel_dead=watchdog.channel_dead,
        store_errors=watchdog.store_errors,
        store_quiet=max(timedelta(minutes=5), 2 * watchdog.check_every),
        send_resolved=watchdog.send_resolved,
    )


def build_watchdog(
    settings: Settings,
    store: Store,
    channels: Mapping[str, Channel],
    clock: Callable[[], datetime],
) -> Watchdog:
    """The daemon's watchdog (listening only, when `watchdog.notify` is empty)."""
    return Watchdog(
        store,
        watchdog_spec(settings),
        channels,
        scopes=[(t.name, t.scope) for t in build_targets(settings)],
        clock=clock,
        check_every=settings.watchdog.check_every.total_seconds(),
    )
