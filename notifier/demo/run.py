"""`notifier demo`: the simulator, the daemon and a verifying webhook receiver in one process.

Nothing to set up: the simulator invents extract and parse jobs that move through their
statuses; the daemon polls it every second; the receiver checks each Standard Webhooks
signature and prints one line per event.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import socket
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from notifier.demo.receiver import create_receiver

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")  # installed with the package: any cwd
_PHASE_MARK = {
    "queued": "…",
    "throttled": "⏳",
    "running": "▶",
    "succeeded": "✔",
    "partial": "◐",
    "failed": "✖",
    "cancelled": "⊘",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def format_line(payload: dict[str, Any], webhook_id: str) -> str:
    """One readable line per verified event."""
    data = payload["data"]
    mark = _PHASE_MARK.get(data["phase"], "?")
    change = f"{data['from_status'] or 'new':>9} -> {data['to_status']:<10}"
    clock = (data["detected_at"] or "")[11:23]
    return (
        f"{clock}  {mark} {data['source']:<15} {data['job_id'][:16]:<16}  {change} "
        f"{data['llamacloud_event']:<18} by {data.get('detected_by', 'poll'):<4}  "
        f"signature ok  id={webhook_id}"
    )


async def _demo(config: Path) -> int:
    from notifier.assemble import secret_values
    from notifier.config.load import load_settings
    from notifier.daemon import Daemon, install_signal_handlers
    from notifier.logs import configure_logging
    from notifier.simulator import PushOptions, start_simulator

    api_key = "demo-" + secrets.token_hex(8)
    webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    lc_secret = secrets.token_hex(16)
    http_listen = f"127.0.0.1:{_free_port()}"
    # The simulator pushes LlamaCloud's own webhooks to the daemon, losing a fifth of them:
    # those, and the events LlamaCloud has no webhook for, still come by polling.
    push = PushOptions(
        url=f"http://{http_listen}/hooks/llamacloud", secret=lc_secret, drop=0.2, seed=7
    )
    sim_runner, sim_url, _ = await start_simulator(
        api_key=api_key, rate=1.5, dwell=(1.0, 3.0), seed=7, push=push
    )

    def show(payload: dict[str, Any], webhook_id: str) -> None:
        print(format_line(payload, webhook_id), flush=True)

    receiver = web.AppRunner(create_receiver(webhook_secret, show), access_log=None)
    await receiver.setup()
    receiver_port = _free_port()
    await web.TCPSite(receiver, "127.0.0.1", receiver_port).start()

    with tempfile.TemporaryDirectory(prefix="notifier-demo-") as workdir:
        # The demo is self-contained: a container's NOTIFIER_* settings (its real store, its
        # listen address) must not leak into it.
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")},
            "DEMO_SIMULATOR_URL": sim_url,
            "DEMO_API_KEY": api_key,
            "DEMO_STORE": str(Path(workdir) / "demo.db"),
            "DEMO_RECEIVER_URL": f"http://127.0.0.1:{receiver_port}/",
            "DEMO_WEBHOOK_SECRET": webhook_secret,
            "DEMO_HTTP_LISTEN": http_listen,
            "DEMO_LC_SECRET": lc_secret,
        }
        settings = load_settings(config, env)
        configure_logging(settings.log.level, settings.log.format, secret_values(settings))
        print(f"simulator  {sim_url}   (fake LlamaCloud, jobs change status every few seconds)")
        print(f"receiver   http://127.0.0.1:{receiver_port}/   (verifies Standard Webhooks)")
        print(
            f"push       the simulator sends LlamaCloud's own webhooks to "
            f"http://{http_listen}/hooks/llamacloud (a fifth are lost: polling finds those)"
        )
        print(
            f"daemon     polls every {settings.polling.interval.total_seconds():g}s; "
            f"health on http://{settings.http.listen}/healthz"
        )
        print("Ctrl-C stops all three.\n", flush=True)
        stop = asyncio.Event()
        install_signal_handlers(stop)
        try:
            await Daemon(settings).run(stop)
        finally:
            await receiver.cleanup()
            await sim_runner.cleanup()
    return 0


def run_demo(config: Path | None) -> int:
    """Blocks until Ctrl-C or SIGTERM; exit status 0."""
    return asyncio.run(_demo(config or DEMO_CONFIG))
