"""The database schema as numbered migrations; each is applied once, in its own transaction."""

from __future__ import annotations

import sqlite3

from notifier.store.connection import transaction

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "initial schema",
        """
        CREATE TABLE jobs (
            source TEXT NOT NULL,
            job_id TEXT NOT NULL,
            status TEXT NOT NULL,
            project_id TEXT,
            created_at TEXT,
            updated_at TEXT,
            status_since TEXT NOT NULL,
            transitions INTEGER NOT NULL DEFAULT 0,
            stuck_notified INTEGER NOT NULL DEFAULT 0,
            terminal INTEGER NOT NULL,
            PRIMARY KEY (source, job_id)
        ) WITHOUT ROWID;
        CREATE INDEX jobs_active ON jobs (source, project_id) WHERE terminal = 0;
        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            source TEXT NOT NULL,
            job_id TEXT NOT NULL,
            project_id TEXT,
            from_status TEXT,
            to_status TEXT NOT NULL,
            phase TEXT NOT NULL,
            detected_at TEXT NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX events_job ON events (source, job_id);
        CREATE INDEX events_detected ON events (detected_at);
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL REFERENCES events (id),
            channel TEXT NOT NULL,
            rule TEXT NOT NULL,
            job_key TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            last_status INTEGER,
            delivered_at TEXT,
            UNIQUE (event_id, channel)
        );
        CREATE INDEX outbox_due ON outbox (channel, state, next_attempt_at);
        CREATE INDEX outbox_job ON outbox (channel, job_key, state, id);
        CREATE TABLE source_state (
            name TEXT NOT NULL,
            scope TEXT NOT NULL,
            baseline_done INTEGER NOT NULL DEFAULT 0,
            watermark TEXT,
            cycles INTEGER NOT NULL DEFAULT 0,
            last_poll_at TEXT,
            last_success_at TEXT,
            last_error TEXT,
            PRIMARY KEY (name, scope)
        );
        """,
    ),
    (
        "indexes for retention",
        """
        CREATE INDEX jobs_finished ON jobs (status_since) WHERE terminal = 1;
        CREATE INDEX outbox_delivered ON outbox (created_at) WHERE state = 'delivered';
        """,
    ),
    (
        "grouping, repeat suppression and mutes",
        """
        ALTER TABLE outbox ADD COLUMN group_key TEXT;
        CREATE INDEX outbox_group ON outbox (channel, group_key, state) WHERE group_key IS NOT NULL;
        CREATE TABLE channel_groups (
            channel TEXT NOT NULL,
            group_key TEXT NOT NULL,
            last_sent_at TEXT NOT NULL,
            PRIMARY KEY (channel, group_key)
        );
        CREATE TABLE notified (
            rule TEXT NOT NULL,
            source TEXT NOT NULL,
            job_id TEXT NOT NULL,
            status TEXT NOT NULL,
            last_at TEXT NOT NULL,
            PRIMARY KEY (rule, source, job_id, status)
        ) WITHOUT ROWID;
        CREATE TABLE mutes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            until TEXT NOT NULL,
            reason TEXT,
            created_at TEXT NOT NULL
        );
        """,
    ),
    (
        "the scope that polls each job",
        # A job is refreshed by the scope that listed it, not by the project its item names:
        # an item may carry another project id, or none.
        """
        ALTER TABLE jobs ADD COLUMN poll_scope TEXT;
        DROP INDEX jobs_active;
        CREATE INDEX jobs_active ON jobs (source, poll_scope) WHERE terminal = 0;
        """,
    ),
    (
        "the targets of a channel that accepted a row",
        # An apprise channel of several URLs: a retry goes only to those that did not accept
        # (digests of the URLs, comma-separated).
        """
        ALTER TABLE outbox ADD COLUMN accepted TEXT;
        """,
    ),
    (
        "the newest jobs a scope's discovery saw",
        # JSON list of job ids: where the next cycle's discovery will stop, known without a
        # query while it fetches (Store.scope_view).
        """
        ALTER TABLE source_state ADD COLUMN frontier TEXT;
        """,
    ),
    (
        "sweeps beside the cycles",
        # A sweep re-lists the lookback window slice by slice, its position kept here; the
        # jobs it finds changed are re-read by the scope's next cycle (rechecks).
        """
        CREATE TABLE sweeps (
            name TEXT NOT NULL,
            scope TEXT NOT NULL,
            pass_started_at TEXT,
            window_low TEXT,
            cursor TEXT,
            slices INTEGER NOT NULL DEFAULT 0,
            slices_done INTEGER NOT NULL DEFAULT 0,
            pages INTEGER NOT NULL DEFAULT 0,
            jobs INTEGER NOT NULL DEFAULT 0,
            found INTEGER NOT NULL DEFAULT 0,
            passes INTEGER NOT NULL DEFAULT 0,
            last_completed_at TEXT,
            last_pass_seconds REAL,
            PRIMARY KEY (name, scope)
        );
        CREATE TABLE rechecks (
            source TEXT NOT NULL,
            scope TEXT NOT NULL,
            job_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            found_at TEXT NOT NULL,
            PRIMARY KEY (source, scope, job_id)
        ) WITHOUT ROWID;
        """,
    ),
    (
        "digests and the watchdog's open troubles",
        # A digest rule's cursor: the end of the last window it summed up (each window is
        # recorded once, under an id from rule + window end). A trouble stays here from its
        # announcement until its resolution, so a restart neither repeats nor loses it.
        """
        CREATE TABLE digests (
            rule TEXT PRIMARY KEY,
            last_end TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE troubles (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            summary TEXT NOT NULL,
            notice_id TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    (
        "indexes for the dashboard",
        # The status page's charts and lists count index ranges, never rows of the tables:
        # transitions by phase and time; each status change's detection delay (a virtual
        # column: computed when indexed, never stored in the table) by hour, so a percentile
        # is an OFFSET into one hour's sorted delays; the outbox by state, by channel and
        # state over time, by queueing and delivery time, and its failing rows per channel.
        """
        ALTER TABLE events ADD COLUMN delay_ds INTEGER GENERATED ALWAYS AS (
            CASE WHEN type = 'job.status_changed' THEN CAST(round(max(0.0,
                (julianday(detected_at) - julianday(json_extract(body, '$.job_updated_at')))
                * 864000.0)) AS INTEGER) END
        ) VIRTUAL;
        CREATE INDEX events_phase ON events (phase, detected_at);
        CREATE INDEX events_delay ON events (
            (CAST(strftime('%s', detected_at) AS INTEGER) / 3600), delay_ds
        ) WHERE delay_ds IS NOT NULL;
        CREATE INDEX outbox_state ON outbox (state, id);
        CREATE INDEX outbox_window ON outbox (channel, state, created_at);
        CREATE INDEX outbox_created ON outbox (created_at)
            WHERE state IN ('pending', 'dead', 'delivered');
        CREATE INDEX outbox_delivered_at ON outbox (delivered_at, created_at)
            WHERE delivered_at IS NOT NULL;
        CREATE INDEX outbox_failing ON outbox (channel, id)
            WHERE attempts > 0 AND state IN ('pending', 'dead');
        """,
    ),
)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply each migration not yet recorded, each in its own transaction."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    for version, (name, script) in enumerate(MIGRATIONS, start=1):
        if version in done:
            continue
        with transaction(conn):
            # Read again under the write lock: a CLI command opening the same file at the
            # same moment may have applied it first.
            if conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone():
                continue
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'))",
                (version, name),
            )


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)
