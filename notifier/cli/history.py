"""What `events`, `deliveries` and `redeliver` print: the store's records as tables or JSON."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from notifier.config.models import Settings
from notifier.core.durations import since_timestamp
from notifier.core.render import event_record
from notifier.core.timestamps import format_ts
from notifier.errors import EXIT_FAILURE, EXIT_OK, UsageError
from notifier.store.db import Store


def _since(text: str | None) -> str | None:
    """An ISO time as given, or `1h`/`3d` meaning that long ago."""
    if text is None:
        return None
    try:
        return since_timestamp(text, datetime.now(UTC))
    except ValueError:
        raise UsageError(
            f"--since {text!r}: expected an ISO time or a duration such as 1h or 3d"
        ) from None


def history(args: argparse.Namespace, settings: Settings) -> int:
    """`events`, `deliveries`, `redeliver` and `replay`: read or requeue what the store holds."""
    if args.command == "replay":
        from notifier.cli.replay import replay  # it reuses this module's helpers

        return replay(args, settings)
    store = Store(settings.store.path)
    try:
        if args.command == "events":
            events = store.list_events(
                job_id=args.job,
                source=args.source,
                status=args.status,
                since=_since(args.since),
                limit=args.limit,
            )
            rows = [event_record(event) for event in events]
            if args.json:
                for row in rows:
                    print(json.dumps(row, ensure_ascii=False))
            else:
                _table(
                    ["detected_at", "type", "source", "job_id", "from", "to"],
                    [
                        [
                            r["data"]["detected_at"],
                            r["type"],
                            r["data"]["source"],
                            r["data"]["job_id"],
                            r["data"]["from_status"] or "-",
                            r["data"]["to_status"],
                        ]
                        for r in rows
                    ],
                )
            return EXIT_OK
        if args.command == "deliveries":
            found = store.outbox.list_deliveries(
                state=args.state, channel=args.channel, limit=args.limit
            )
            records = [
                {
                    "id": d.id,
                    "channel": d.channel,
                    "state": d.state,
                    "attempts": d.attempts,
                    "event_id": d.event.id,
                    "job_id": d.event.job_id,
                    "to_status": d.event.to_status,
                    "rule": d.rule,
                    "next_attempt_at": d.next_attempt_at,
                    "last_status": d.last_status,
                    "last_error": d.last_error,
                    "delivered_at": d.delivered_at,
                }
                for d in found
            ]
            if args.json:
                for record in records:
                    print(json.dumps(record, ensure_ascii=False))
            else:
                columns = [
                    "id",
                    "channel",
                    "state",
                    "attempts",
                    "job_id",
                    "to_status",
                    "last_error",
                ]
                _table(columns, [[r[c] for c in columns] for r in records])
            return EXIT_OK
        # redeliver
        count = store.outbox.requeue(
            now=format_ts(datetime.now(UTC)), delivery_id=args.id, channel=args.channel
        )
        print(f"requeued {count} dead deliver{'y' if count == 1 else 'ies'}")
        return EXIT_OK if count else EXIT_FAILURE
    finally:
        store.close()


def _table(columns: list[str], rows: list[list[Any]]) -> None:
    """A plain aligned table: readable on a terminal, greppable in a pipe."""
    cells = [columns, *[["-" if v is None else str(v) for v in row] for row in rows]]
    widths = [min(60, max(len(row[i]) for row in cells)) for i in range(len(columns))]
    for row in cells:
        print("  ".join(value[:60].ljust(width) for value, width in zip(row, widths, strict=True)))
    if not rows:
        print("(none)")
