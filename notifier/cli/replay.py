"""`notifier replay`: send recorded events again, with their original ids, for a receiver that
lost its data (receivers deduplicate on `webhook-id`); `--dry-run` lists what would go."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, datetime

from notifier.cli.history import _since, _table
from notifier.config.models import Settings
from notifier.core.timestamps import format_ts
from notifier.errors import EXIT_FAILURE, EXIT_OK, UsageError
from notifier.store.db import Store
from notifier.store.replay import replay_rows, requeue_for_replay


def replay(args: argparse.Namespace, settings: Settings) -> int:
    """Requeue the chosen deliveries (the running daemon, or `notifier once`, sends them)."""
    if args.channel is not None and args.channel not in settings.channels:
        known = ", ".join(settings.channels) or "none"
        raise UsageError(f"--channel {args.channel!r}: no such channel (configured: {known})")
    # The watchdog's notices are recorded under the rule name `watchdog`.
    rules = [rule.name for rule in settings.rules] + ["watchdog"] * settings.watchdog.enabled
    if args.rule is not None and args.rule not in rules:
        known = ", ".join(rules) or "none"
        raise UsageError(f"--rule {args.rule!r}: no such rule (configured: {known})")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    since = _since(args.since)
    assert since is not None  # --since is required
    store = Store(settings.store.path)
    try:
        rows = replay_rows(
            store.db,
            since=since,
            rule=args.rule,
            channel=args.channel,
            job_id=args.job,
            limit=args.limit,
        )
        # A channel no longer configured has no worker: its rows would wait for ever.
        gone = sorted({row.channel for row in rows if row.channel not in settings.channels})
        rows = [row for row in rows if row.channel in settings.channels]
        if args.json:
            for row in rows:
                print(json.dumps(asdict(row), ensure_ascii=False))
        else:
            columns = ["delivery_id", "channel", "rule", "event_id", "job_id", "to_status"]
            _table(
                [*columns, "state"],
                [[getattr(row, c) for c in [*columns, "state"]] for row in rows],
            )
        if gone:
            print(f"skipped deliveries to channels no longer configured: {', '.join(gone)}")
        if args.dry_run:
            print(f"would replay {len(rows)} deliver{'y' if len(rows) == 1 else 'ies'}")
            return EXIT_OK if rows else EXIT_FAILURE
        moved = requeue_for_replay(
            store.db, [row.delivery_id for row in rows], format_ts(datetime.now(UTC))
        )
        print(
            f"queued {moved} deliver{'y' if moved == 1 else 'ies'} for replay with their "
            "original event ids; the running daemon sends them (or run `notifier once`)"
        )
        return EXIT_OK if moved else EXIT_FAILURE
    finally:
        store.close()
