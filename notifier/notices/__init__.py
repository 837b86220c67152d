"""The notifier speaking of its own accord: digests on a schedule, the watchdog of its own
troubles. Both record notices (`core.notices`) that travel the outbox like any delivery."""
