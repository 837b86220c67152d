"""The naive poller of the scale benchmark, built on LlamaCloud's official SDK (`llama-cloud`).

What a hand-written loop on the SDK does: every `--interval`, per source, list every job
created in the lookback window (`client.extract.list` / `client.parsing.list`, every page,
no rate limit), and diff the whole listing against the previous one. The first listing is
its baseline (silent). Each source runs in its own thread on its own schedule, as the
daemon schedules each source on its own; a listing longer than the interval is followed by
the next one at once.

Run as `python -m bench.naive_sdk --base-url URL --api-key KEY --interval 2`; it writes one
JSON object per line on stdout: `{"kind": "baseline"|"cycle"|"detected", ...}`, with epoch
times, and stops on SIGTERM after the listing in progress.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from llama_cloud import LlamaCloud

_out = threading.Lock()


def emit(record: dict[str, Any]) -> None:
    line = json.dumps(record)
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def listing(client: LlamaCloud, source: str, since: datetime) -> Iterator[list[tuple[str, str]]]:
    """(id, status) of every job created since `since`, one list per page (= per request)."""
    if source == "extract_v2":
        for page in client.extract.list(created_at_on_or_after=since, page_size=100).iter_pages():
            yield [(job.id, str(job.status)) for job in page.items]
    else:
        for parse_page in client.parsing.list(
            created_at_on_or_after=since, page_size=100
        ).iter_pages():
            yield [(job.id, str(job.status)) for job in parse_page.items]


def poll_forever(
    source: str,
    base_url: str,
    api_key: str,
    interval: float,
    lookback: timedelta,
    stop: threading.Event,
) -> None:
    client = LlamaCloud(api_key=api_key, base_url=base_url, max_retries=2)
    previous: dict[str, str] | None = None
    cycle = 0
    while not stop.is_set():
        started = time.time()
        cpu = time.thread_time()
        current: dict[str, str] = {}
        requests = 0
        try:
            for page in listing(client, source, datetime.now(UTC) - lookback):
                requests += 1
                current.update(page)
        except Exception as exc:  # a failed cycle is retried next interval, like the daemon
            emit({"kind": "error", "source": source, "t": time.time(), "error": repr(exc)})
            stop.wait(max(0.0, started + interval - time.time()))
            continue
        detected = time.time()
        if previous is None:
            emit({"kind": "baseline", "source": source, "t": detected, "jobs": len(current)})
        else:
            for job_id, status in current.items():
                before = previous.get(job_id)
                if before != status:
                    emit(
                        {
                            "kind": "detected",
                            "source": source,
                            "t": detected,
                            "job_id": job_id,
                            "from_status": before,
                            "to_status": status,
                            "cycle": cycle,
                        }
                    )
        previous = current
        emit(
            {
                "kind": "cycle",
                "source": source,
                "cycle": cycle,
                "started": started,
                "ended": time.time(),
                "requests": requests,
                "jobs": len(current),
                "thread_cpu": time.thread_time() - cpu,
            }
        )
        cycle += 1
        stop.wait(max(0.0, started + interval - time.time()))
    client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--interval", type=float, required=True, help="seconds")
    parser.add_argument("--lookback-hours", type=float, default=72.0)
    parser.add_argument("--sources", default="extract_v2,parse_v2")
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threads = [
        threading.Thread(
            target=poll_forever,
            args=(
                source,
                args.base_url,
                args.api_key,
                args.interval,
                timedelta(hours=args.lookback_hours),
                stop,
            ),
            name=source,
            daemon=True,
        )
        for source in args.sources.split(",")
    ]
    for thread in threads:
        thread.start()
    emit({"kind": "started", "t": time.time()})
    while not stop.is_set():
        stop.wait(0.5)
    for thread in threads:
        thread.join(timeout=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
