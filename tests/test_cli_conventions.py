"""The conventions operators expect of a command: --version, --config anywhere, a useful --help."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import yaml

from tests.harness import REPO

MINIMAL = {"llamacloud": {"api_key": "k-123456"}, "sources": [{"type": "extract_v2"}]}


def notifier(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


def test_version_comes_from_package_metadata() -> None:
    """`notifier --version` prints the installed distribution's version and exits 0."""
    result = notifier("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"notifier {version('llamacloud-notifier')}\n"


def test_config_before_or_after_the_command(tmp_path: Path) -> None:
    """`notifier --config F check` and `notifier check --config F` read the same file."""
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    before = notifier("--config", str(path), "check", cwd=tmp_path)
    after = notifier("check", "--config", str(path), cwd=tmp_path)
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert before.stdout == after.stdout and before.stdout.startswith("configuration OK")
    # Without --config (and no $NOTIFIER_CONFIG) the default path is read, and named.
    default = notifier("check", cwd=tmp_path)
    assert default.returncode == 2
    assert "config/notifier.yaml: configuration file not found" in default.stderr


def test_config_twice_with_different_paths_is_a_usage_error(tmp_path: Path) -> None:
    """Which file was meant is not guessed: exit 2 with argparse's usage line."""
    result = notifier("--config", "a.yaml", "check", "--config", "b.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "--config given twice" in result.stderr and "Traceback" not in result.stderr


def test_help_names_default_config_and_exit_codes() -> None:
    """`--help`, at the top and per command, says where the config is read and what exits mean."""
    for args in (("--help",), ("run", "--help")):
        result = notifier(*args)
        assert result.returncode == 0, result.stderr
        text = result.stdout
        assert "config/notifier.yaml" in text and "$NOTIFIER_CONFIG" in text
        assert "exit codes:" in text
        for code in ("0  success", "1  failure", "2  invalid configuration"):
            assert code in text, (args, code)
    assert "--version" in notifier("--help").stdout
    assert "schema" in notifier("--help").stdout
