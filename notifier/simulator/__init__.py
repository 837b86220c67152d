"""A faithful fake of LlamaCloud's job list endpoints, for the demo, tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from notifier.core.statuses import SourceType
from notifier.simulator.app import Fault, Simulator, create_app
from notifier.simulator.push import Pusher, PushOptions
from notifier.simulator.state import JobStore, random_script

__all__ = [
    "CannotListen",
    "Fault",
    "PushOptions",
    "Simulator",
    "create_app",
    "run_simulator",
    "start_simulator",
]


class CannotListen(Exception):
    """`notifier simulate --port N`: the port cannot be bound; the CLI says so and exits 1."""


async def _generate(
    sim: Simulator, rate: float, dwell: tuple[float, float], seed: int | None
) -> None:
    """New jobs of every family at `rate` per second, each on a random lifecycle."""
    rng = random.Random(seed)  # noqa: S311 -- a simulation, not cryptography
    families = [
        SourceType.EXTRACT_V2,
        SourceType.EXTRACT_V2,
        SourceType.PARSE_V2,
        SourceType.EXTRACTION_V1,
        SourceType.EXTRACT_RUNS_V1,
    ]
    while True:
        source = rng.choice(families)
        sim.jobs.create(source, script=random_script(source, rng, dwell))
        await asyncio.sleep(1.0 / rate)


async def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str = "sim-key",
    rate: float = 0.0,
    dwell: tuple[float, float] = (1.0, 4.0),
    seed: int | None = None,
    jobs: JobStore | None = None,
    push: PushOptions | None = None,
) -> tuple[web.AppRunner, str, Simulator]:
    """Serve a simulator on host:port (0 = any free port); returns (runner, base URL, state).

    With `rate` > 0 a background task invents jobs; with `push`, LlamaCloud's own webhooks
    are sent as jobs change (their lifecycles then advance every 50 ms, not only when
    listed). `runner.cleanup()` stops everything.
    """
    sim = Simulator(api_key=api_key, jobs=jobs or JobStore())
    app = create_app(sim)
    if push is not None:
        pusher = Pusher(push)
        pusher.attach(sim.jobs)

        async def pushing(app: web.Application) -> AsyncIterator[None]:
            async def tick() -> None:
                while True:
                    sim.jobs.advance()
                    await asyncio.sleep(0.05)

            task = asyncio.create_task(tick())
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await pusher.close()

        app.cleanup_ctx.append(pushing)
    if rate > 0:

        async def generator(app: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(_generate(sim, rate, dwell, seed))
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        app.cleanup_ctx.append(generator)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://{host}:{bound}", sim


def run_simulator(
    host: str,
    port: int,
    api_key: str,
    rate: float,
    seed: int | None,
    *,
    push: PushOptions | None = None,
) -> None:
    """`notifier simulate`: serve until Ctrl-C or SIGTERM (exit 0). A port that cannot be
    bound is CannotListen, which the CLI reports without a traceback."""

    async def serve() -> None:
        try:
            runner, url, _ = await start_simulator(
                host, port, api_key=api_key, rate=rate, seed=seed, push=push
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise CannotListen(
                f"--port {port}: cannot listen on {host}:{port} ({reason})"
            ) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(  # after the handlers: whoever reads this line may stop us at once
            f"LlamaCloud simulator on {url}  (bearer key: {api_key}; control API under /_sim/)",
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
