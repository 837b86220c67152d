"""The SQLite store: the job snapshot and event log (`db`), the delivery outbox, mutes, the
schema's migrations, the event codec, and the one-daemon-per-file lock."""
