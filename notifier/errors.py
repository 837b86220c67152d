"""The errors the CLI turns into exit code 1, in a module light enough to import on every
command (`notifier check` must not pay for SQLite helpers it never uses)."""

from __future__ import annotations


class StoreError(Exception):
    """The database cannot be opened or written; the message names the file."""


class AlreadyRunning(Exception):
    """Another notifier process holds the store; running a second would double-send."""


class ListenError(Exception):
    """The status server cannot take its address (in use, or not this host's)."""


class UsageError(Exception):
    """A command-line value that cannot be used (an unknown channel name, a bad --for);
    exit 2 like argparse's own errors, without the "invalid configuration" heading."""
