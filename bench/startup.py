"""Start-up: wall time of `notifier --help` and `notifier check` (apprise, jinja2 load lazily).

`check` is timed twice: on the SPEC example, whose two apprise channels make it load apprise
and its plugins to validate their URLs (as `run` would), and on a webhook-only config.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = 10
ENV = {
    **os.environ,
    "LLAMA_CLOUD_API_KEY": "llx-bench",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX",
    "ONCALL_MAILTO": "mailto://user:pass@example.com",
}


def _time(args: list[str]) -> list[float]:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "notifier", *args],
            env=ENV,
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - started)
    return times


WEBHOOK_ONLY = """
llamacloud: {api_key: "${LLAMA_CLOUD_API_KEY}"}
sources: [{type: extract_v2}, {type: parse_v2}]
channels:
  pipeline: {type: webhook, url: "https://pipeline.example.com/hooks", secret: "whsec_c2VjcmV0"}
rules: [{name: all, notify: [pipeline]}]
"""


def run() -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        webhook_only = Path(folder) / "webhook-only.yaml"
        webhook_only.write_text(WEBHOOK_ONLY)
        return {
            "notifier --help": _time(["--help"]),
            "notifier check (SPEC example: 2 apprise channels)": _time(
                ["check", "--config", "config/notifier.example.yaml"]
            ),
            "notifier check (webhook channel only)": _time(
                ["check", "--config", str(webhook_only)]
            ),
        }


def report(results: dict[str, list[float]]) -> str:
    lines = ["| command | median s | max s | runs |", "| --- | ---: | ---: | ---: |"]
    for name, times in results.items():
        lines.append(
            f"| `{name}` | {statistics.median(times):.2f} | {max(times):.2f} | {len(times)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
