"""What `notifier check` prints: what would be polled and where each rule routes, no secrets."""

from __future__ import annotations

import os

from notifier.channels.signing import secret_key
from notifier.config.base import ConfigError
from notifier.config.models import Settings
from notifier.config.routing import (
    AppriseChannelConfig,
    RuleConfig,
    WebhookChannelConfig,
    WhenConfig,
)
from notifier.core.durations import format_duration
from notifier.core.statuses import ENDPOINTS, STATUSES, SourceType
from notifier.secrets import safe_target


def _when(when: WhenConfig) -> str:
    parts = []
    for key in type(when).model_fields:
        value = getattr(when, key)
        if value is None:
            continue
        if key == "not_":
            parts.append(f"not ({_when(value)})")
        elif key == "match":
            parts.append(f"match `{value}`")
        else:
            parts.append(f"{key} in [{', '.join(value)}]")
    return " and ".join(parts) or "every event"


def _apprise_targets(channel: str, urls: list[str]) -> str:
    """Each URL as apprise reads it, credentials masked; a URL it cannot read is a ConfigError."""
    # apprise loads its ~130 plugins on import: a webhook-only `check` does without.
    from notifier.channels.apprise import UnsupportedURL, instantiate

    try:
        return ", ".join(
            str(instantiate(channel, index, url).url(privacy=True))
            for index, url in enumerate(urls)
        )
    except UnsupportedURL as exc:
        raise ConfigError(str(exc)) from None


def _native_line(settings: Settings) -> str:
    native = settings.native_webhooks
    if not native.enabled:
        return (
            "native webhooks  off (set native_webhooks.secret or native_webhooks.token to "
            "take LlamaCloud's webhooks as hints)"
        )
    checks = " and ".join(
        name
        for name, on in (("LC-Signature", native.secret), ("bearer token", native.token))
        if on is not None
    )
    return f"native webhooks  POST {native.path} on {settings.http.listen}, checked by {checks}"


def _rule_line(rule: RuleConfig) -> str:
    extras = [] if rule.continue_ else ["stop"]
    if rule.group_wait is not None:
        by = ",".join(rule.group_by) or "rule"
        extras.append(f"grouped by {by}, wait {format_duration(rule.group_wait)}")
    if rule.repeat_interval is not None:
        extras.append(f"repeat after {format_duration(rule.repeat_interval)}")
    if rule.digest is not None:
        extras.append(f"digest at '{rule.digest.schedule}' {rule.digest.timezone}")
    suffix = f"  ({'; '.join(extras)})" if extras else ""
    return f"  {rule.name}: {_when(rule.when)} -> {', '.join(rule.notify)}{suffix}"


def _watchdog_line(settings: Settings) -> str:
    watchdog = settings.watchdog
    if not watchdog.enabled:
        return "watchdog         off (set watchdog.notify to hear of the notifier's own troubles)"
    watched = [
        f"sources failing {format_duration(watchdog.source_failing_for)}",
        *(["dead channels"] if watchdog.channel_dead else []),
        f"outbox older than {format_duration(watchdog.outbox_older_than)}",
        *(["store errors"] if watchdog.store_errors else []),
    ]
    resolved = "with" if watchdog.send_resolved else "without"
    return (
        f"watchdog         -> {', '.join(watchdog.notify)}: {', '.join(watched)}; "
        f"{resolved} resolved messages"
    )


def describe(settings: Settings) -> str:
    """A deterministic plain-text summary of a valid configuration."""
    api = settings.llamacloud
    polling = settings.polling
    lines = [
        "configuration OK",
        "",
        f"LlamaCloud  {api.base_url}  project={api.project_id or '(key default)'}  api_key=set",
        f"store       {settings.store.path}  retention={format_duration(settings.store.retention)}",
        f"polling     every {format_duration(polling.interval)}, "
        f"lookback {format_duration(polling.lookback)}, initial_sync={polling.initial_sync}, "
        f"sweep every {format_duration(polling.sweep_period)}, "
        f"stuck after {format_duration(polling.stuck_after)}",
        "",
        "sources:",
    ]
    for source in settings.sources:
        kind = source.type.value
        name = source.name or kind
        path = ENDPOINTS[source.type]
        if source.type in (SourceType.EXTRACT_V2, SourceType.PARSE_V2):
            projects = ", ".join(source.project_ids) or api.project_id or "(key default)"
            statuses = ", ".join(source.statuses) or "all"
            extra = f"  configuration={source.configuration_id}" if source.configuration_id else ""
            lines.append(f"  {name:<18} GET {path}  project={projects}  statuses={statuses}{extra}")
        else:
            agents = ", ".join(source.extraction_agent_ids)
            lines.append(f"  {name:<18} GET {path}  extraction_agent_id={agents}")
    lines.append(_native_line(settings))
    lines.append(_watchdog_line(settings))
    lines += ["", "channels:"]
    for name, channel in settings.channels.items():
        if isinstance(channel, AppriseChannelConfig):
            targets = _apprise_targets(name, [u.get_secret_value() for u in channel.urls])
            lines.append(f"  {name:<18} apprise  {targets}")
        else:
            count = len(channel.signing_secrets())
            signed = "unsigned" if not count else "signed" if count == 1 else f"signed by {count}"
            lines.append(f"  {name:<18} webhook  POST {safe_target(channel.url)} ({signed})")
    lines += ["", "rules (first match names the route):"]
    lines += [_rule_line(rule) for rule in settings.rules]
    for mute in settings.mutes:
        targets = ", ".join([*mute.rules, *mute.channels])
        lines.append(
            f"  mute {mute.name}: {targets} {','.join(mute.days)} "
            f"{mute.start}-{mute.end} {mute.timezone}"
        )
    if not settings.rules:
        lines.append("  (none: transitions are recorded but not delivered)")
    warnings = status_warnings(settings) + store_warnings(settings) + secret_warnings(settings)
    if warnings:
        lines += ["", "warnings:", *(f"  {w}" for w in warnings)]
    return "\n".join(lines)


def store_warnings(settings: Settings) -> list[str]:
    """A store this host could not write. A warning, not an error: `check` may run where the
    daemon does not (CI checking a container's config that names /data)."""
    path = settings.store.path.absolute()
    if path.exists():
        writable = os.access(path, os.R_OK | os.W_OK) and os.access(path.parent, os.W_OK)
    else:
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        writable = parent.is_dir() and os.access(parent, os.W_OK)
    return [] if writable else [f"store.path: {path} is not writable here"]


def status_warnings(settings: Settings) -> list[str]:
    """Rule statuses no configured source reports: most likely a typo (`FAILD`). Not an
    error, since a status LlamaCloud adds later is kept and can be routed."""
    known = {status for source in settings.sources for status in STATUSES[source.type]}
    found = []
    for index, rule in enumerate(settings.rules):
        path = f"rules[{index}].when"
        when: WhenConfig | None = rule.when
        while when is not None:
            for key in ("status", "from_status"):
                for value in getattr(when, key) or ():
                    if value not in known:
                        found.append(
                            f"{path}.{key}: {value!r} is not a status of any configured source"
                        )
            path, when = f"{path}.not", when.not_
    return found


# Standard Webhooks asks for secrets of 24 to 64 bytes; shorter ones are easier to guess.
MIN_SECRET_BYTES = 24


def secret_warnings(settings: Settings) -> list[str]:
    """Webhook secrets shorter than the spec's 24 bytes: a warning, since they still sign.
    Names the key and the length, never the secret."""
    found = []
    for name, channel in settings.channels.items():
        if not isinstance(channel, WebhookChannelConfig):
            continue
        keys = "secrets" if channel.secrets is not None else "secret"
        for index, secret in enumerate(channel.signing_secrets()):
            size = len(secret_key(secret))
            if size < MIN_SECRET_BYTES:
                where = f"channels.{name}.{keys}" + (f"[{index}]" if keys == "secrets" else "")
                found.append(
                    f"{where}: {size} bytes once decoded; Standard Webhooks asks for 24 to 64 "
                    "(e.g. whsec_ + base64 of 32 random bytes: openssl rand -base64 32)"
                )
    return found
