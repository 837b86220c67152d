"""Every config snippet of the README's rules cookbook passes `notifier check`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness import REPO

BASE = {
    "llamacloud": {"api_key": "${LLAMA_CLOUD_API_KEY}"},
    "sources": [
        {"type": "extract_v2"},
        {"type": "parse_v2"},
        {"type": "extraction_v1", "extraction_agent_ids": ["agent-1"]},
        {"type": "extract_runs_v1", "extraction_agent_ids": ["agent-1"]},
    ],
}
ENV = {
    **os.environ,
    "LLAMA_CLOUD_API_KEY": "llx-cookbook",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
    "SMTP_USER": "notifier",
    "SMTP_PASSWORD": "s3cret-pass",
    "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


def snippets() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Rules cookbook", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```yaml\n(.*?)```", section, flags=re.S)


def test_the_cookbook_has_the_promised_recipes() -> None:
    """Slack on FAILED, email on ERROR, webhook on COMPLETED, THROTTLED digest, stuck jobs,
    rules on what a job holds (`when.match`), digests on a schedule."""
    names = [rule["name"] for s in snippets() for rule in yaml.safe_load(s)["rules"]]
    assert names == [
        "failures-to-slack",
        "v1-errors-by-email",
        "completed-to-pipeline",
        "throttling-digest",
        "stuck-jobs",
        "invoice-total-missing",
        "expensive-parses",
        "invoice-configurations",
        "daily-digest",
    ]


@pytest.mark.parametrize("index", range(7))
def test_snippet_passes_check(index: int, tmp_path: Path) -> None:
    """`notifier check` accepts the snippet and shows its rule."""
    snippet = yaml.safe_load(snippets()[index])
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({**BASE, **snippet}))
    result = subprocess.run(
        [sys.executable, "-m", "notifier", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert snippet["rules"][0]["name"] in result.stdout
    assert "s3cret-pass" not in result.stdout and "XXXXXXXX" not in result.stdout
