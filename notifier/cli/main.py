"""The `notifier` command: the only place that turns errors into messages and exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from notifier.errors import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK


def _push_arguments(simulate: argparse.ArgumentParser) -> None:
    push = simulate.add_argument_group("native webhooks (LlamaCloud's own push)")
    push.add_argument(
        "--push-url",
        help="push every job's events here (else only jobs created with webhook_configurations)",
    )
    push.add_argument("--push-secret", help="sign pushes: LC-Signature: sha256=<hex HMAC>")
    push.add_argument("--push-drop", type=float, default=0.0, help="share never sent, 0-1")
    push.add_argument("--push-delay", type=float, default=0.0, help="seconds before each push")
    push.add_argument("--push-duplicates", type=float, default=0.0, help="share sent twice")


def _replay_arguments(replay: argparse.ArgumentParser) -> None:
    replay.add_argument(
        "--since", required=True, help="events detected since: ISO time or duration, e.g. 2h"
    )
    replay.add_argument("--rule", help="only deliveries this rule routed")
    replay.add_argument("--channel", help="only deliveries to this channel")
    replay.add_argument("--job", help="only this job's events")
    replay.add_argument("--limit", type=int, default=None, help="at most this many deliveries")
    replay.add_argument("--dry-run", action="store_true", help="list what would go, send nothing")
    replay.add_argument("--json", action="store_true", help="one JSON object per line")


def _parser() -> argparse.ArgumentParser:  # noqa: PLR0915 -- a flat list of commands reads best
    parser = argparse.ArgumentParser(
        prog="notifier",
        description="Watch LlamaCloud extract and parse jobs; notify on status changes.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--config", type=Path, help="YAML file (default: $NOTIFIER_CONFIG)")
        return sub

    fresh = (
        "if the store exists but is unusable (empty, not SQLite, another schema), move it "
        "aside to <name>.damaged-<time> and start a new one; a usable store is kept"
    )
    run = with_config("run", "run the daemon: poll, deliver, serve HTTP, until SIGTERM")
    run.add_argument("--fresh-store", action="store_true", help=fresh)
    once = with_config("once", "poll every source once, deliver what is due, exit")
    once.add_argument("--fresh-store", action="store_true", help=fresh)
    with_config("check", "validate the configuration and print what would be polled and routed")
    demo = with_config("demo", "run the simulator, the daemon and a webhook receiver together")
    demo.set_defaults(config=None)
    simulate = commands.add_parser("simulate", help="run only the LlamaCloud simulator")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8090)
    simulate.add_argument("--api-key", default="sim-key", help="bearer key it accepts")
    simulate.add_argument("--rate", type=float, default=1.0, help="new jobs per second")
    simulate.add_argument("--seed", type=int, default=None)
    _push_arguments(simulate)

    events = with_config("events", "list recorded transitions, newest first")
    events.add_argument("--job", help="job id")
    events.add_argument("--source", help="source type, e.g. extract_v2")
    events.add_argument("--status", help="new status, e.g. FAILED")
    events.add_argument("--since", help="ISO time or duration ago, e.g. 1h")
    events.add_argument("--limit", type=int, default=50)
    events.add_argument("--json", action="store_true", help="one JSON object per line")

    deliveries = with_config("deliveries", "list outbox rows")
    deliveries.add_argument(
        "--state",
        choices=["pending", "failed", "dead", "delivered", "muted", "suppressed"],
        default=None,
    )
    deliveries.add_argument("--channel")
    deliveries.add_argument("--limit", type=int, default=50)
    deliveries.add_argument("--json", action="store_true", help="one JSON object per line")

    redeliver = with_config("redeliver", "requeue dead deliveries (all of them by default)")
    target = redeliver.add_mutually_exclusive_group()
    target.add_argument("--id", type=int, help="one delivery id")
    target.add_argument("--channel", help="every dead delivery of this channel")
    _replay_arguments(
        with_config("replay", "send recorded deliveries again, with their original event ids")
    )
    test = with_config("test-channel", "send a sample event through one channel")
    test.add_argument("name", help="channel name from the configuration")

    mute = with_config("mute", "silence a rule or channel for a while (deliveries kept as muted)")
    what = mute.add_mutually_exclusive_group(required=True)
    what.add_argument("--rule")
    what.add_argument("--channel")
    what.add_argument("--list", action="store_true", help="show active mutes")
    mute.add_argument("--for", dest="duration", default="1h", help="e.g. 30m, 2h, 1d")
    mute.add_argument("--reason")

    unmute = with_config("unmute", "end mutes early")
    which = unmute.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int)
    which.add_argument("--rule")
    which.add_argument("--channel")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit codes are mapped in `notifier.errors`."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # `notifier events | head`: the reader has what it wanted.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        code = _exit_code(exc)
        if code is None:
            raise
        return code


def _exit_code(exc: Exception) -> int | None:
    """The message and exit code of an error the package raises on purpose, or None.

    The classes are imported only now, when one was raised: `--help` and `check` must not
    pay for aiohttp and the simulator just to be able to name them.
    """
    from notifier.config.base import ConfigError
    from notifier.errors import UsageError
    from notifier.simulator import CannotListen
    from notifier.status.server import ListenError
    from notifier.store.connection import StoreError
    from notifier.store.lock import AlreadyRunning

    if isinstance(exc, ConfigError):
        print(f"notifier: invalid configuration:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    if isinstance(exc, StoreError | AlreadyRunning | ListenError | CannotListen):
        print(f"notifier: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if isinstance(exc, UsageError):
        print(f"notifier: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return None


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "simulate":
        from notifier.simulator import PushOptions, run_simulator

        pushing = args.push_url or args.push_secret
        options = PushOptions(
            url=args.push_url,
            secret=args.push_secret,
            drop=args.push_drop,
            delay=args.push_delay,
            duplicates=args.push_duplicates,
            seed=args.seed,
        )
        run_simulator(
            args.host,
            args.port,
            args.api_key,
            args.rate,
            args.seed,
            push=options if pushing else None,
        )
        return EXIT_OK
    if args.command == "demo":
        from notifier.demo.run import run_demo

        return run_demo(args.config)

    from notifier.config.load import load_settings

    settings = load_settings(args.config)
    if args.command == "check":
        from notifier.cli.check import describe

        print(describe(settings))
        return EXIT_OK
    _setup_logging(settings)
    if args.command in ("test-channel", "mute", "unmute"):
        return _operate(args, settings)
    if args.command in ("run", "once"):
        import asyncio  # `check` and the history commands do without

        if args.fresh_store:
            _fresh_store(settings.store.path)
        return asyncio.run(_run(settings) if args.command == "run" else _once(settings))
    from notifier.cli.history import history

    return history(args, settings)


def _setup_logging(settings: Any) -> None:
    from notifier.assemble import secret_values
    from notifier.logs import configure_logging

    configure_logging(settings.log.level, settings.log.format, secret_values(settings))


def _fresh_store(path: Path) -> None:
    """`--fresh-store`: an unusable store is moved aside (never deleted) and a new one made,
    under the store's lock so no running daemon loses its file."""
    from notifier.store.connection import UnusableStore, set_aside
    from notifier.store.db import Store
    from notifier.store.lock import StoreLock

    lock = StoreLock(path)
    lock.acquire()
    try:
        try:
            Store(path).close()
            return
        except UnusableStore as exc:
            aside = set_aside(path)
            Store(path).close()
            print(
                f"notifier: the store {path} {exc.reason}: moved it to {aside}, started a new one",
                file=sys.stderr,
            )
    finally:
        lock.release()


async def _run(settings: Any) -> int:
    import asyncio

    from notifier.daemon import Daemon, install_signal_handlers

    stop = asyncio.Event()
    install_signal_handlers(stop)
    await Daemon(settings).run(stop)
    return EXIT_OK


async def _once(settings: Any) -> int:
    from notifier.daemon import Daemon

    results = await Daemon(settings).once()
    return EXIT_OK if all(r is not None for r in results) else EXIT_FAILURE


def _operate(args: argparse.Namespace, settings: Any) -> int:
    from notifier.channels.base import DeliveryError
    from notifier.cli import operate
    from notifier.store.db import Store

    if args.command == "test-channel":
        import asyncio

        try:
            print(asyncio.run(operate.test_channel(settings, args.name)))
        except DeliveryError as exc:
            print(f"notifier: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        return EXIT_OK
    store = Store(settings.store.path)
    try:
        if args.command == "mute" and args.list:
            print("\n".join(operate.list_mutes(store)) or "(no active mutes)")
        elif args.command == "mute":
            print(
                operate.mute(
                    settings,
                    store,
                    rule=args.rule,
                    channel=args.channel,
                    duration=args.duration,
                    reason=args.reason,
                )
            )
        else:
            kind = "rule" if args.rule else "channel"
            count = store.mutes.remove(mute_id=args.id, kind=kind, name=args.rule or args.channel)
            print(f"removed {count} mute{'' if count == 1 else 's'}")
            return EXIT_OK if count else EXIT_FAILURE
        return EXIT_OK
    finally:
        store.close()
