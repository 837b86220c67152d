"""Every exception the notifier raises on purpose, and what the CLI makes of it.

Each package raises its own small exceptions; only `cli.main` turns them into messages and
exit codes (0 ok, 1 failure, 2 configuration or usage error). No message carries a secret.

    Exception
    ├── ConfigError          config.base          invalid configuration, one `path: message`
    │                                             line per problem                   -> exit 2
    ├── UsageError           errors (here)        a bad command-line value (unknown channel
    │                                             name, bad --for or --since)         -> exit 2
    ├── StoreError           store.connection     the database cannot be opened/written -> 1
    │   └── UnusableStore    store.connection     the file exists but is no store this
    │                                             version can use (empty, not SQLite, another
    │                                             application's tables, a newer schema, a WAL
    │                                             without its database): one line naming it
    │                                             and `run --fresh-store`             -> exit 1
    ├── AlreadyRunning       store.lock           another daemon holds the store     -> exit 1
    ├── ListenError          status.server          http.listen cannot be bound        -> exit 1
    ├── CannotListen         simulator            `simulate --port` cannot be bound  -> exit 1
    ├── ApiError             llamacloud.client    a LlamaCloud request failed for good (an
    │                                             answer past llamacloud.max_page_bytes
    │                                             included, not asked again): the cycle fails,
    │                                             is logged and shown on the status page; the
    │                                             next cycle retries (`once` exits 1)
    ├── MalformedResponse    llamacloud.parsing   a page whose envelope cannot be read, a
    │                        llamacloud.sources   repeated page token, a listing still paging
    │                                             at its page cap: as ApiError (one bad item
    │                                             is only skipped)
    ├── DeliveryError        channels.base        a target did not accept: retried or
    │                                             dead-lettered by `core.retry` (in
    │                                             `test-channel`: exit 1)
    ├── SignatureError       channels.signing     a webhook signature does not verify (the
    │                                             demo's receiver answers 401)
    └── ValueError
        ├── UnsupportedURL   channels.apprise     an apprise URL no plugin reads; `assemble`
        │                                         and `check` raise it as ConfigError -> 2
        └── FieldError       config.base          a validator's failure at a sub-path;
                                                  becomes a ConfigError line         -> 2

KeyboardInterrupt and a closed stdout (`notifier events | head`) end a command with 0.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


class UsageError(Exception):
    """A command-line value that cannot be used (an unknown channel name, a bad --for);
    exit 2 like argparse's own errors, without the "invalid configuration" heading."""
