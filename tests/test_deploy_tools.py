"""Every deployment file passes the validator of its own ecosystem, run for real.

promtool checks and unit-tests the alert rules; kubectl builds the kustomization (and each
optional component) offline and kubernetes-validate --strict checks what it builds against
the Kubernetes schemas; docker-compose parses the compose file. Where a tool is missing the
test says how to get it (and fails under CI, see tests/deploy_tools.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.deploy_tools import DEPLOY, run, tool

PROMETHEUS = DEPLOY / "prometheus"


def test_alert_rules_pass_promtool_check() -> None:
    """`promtool check rules` accepts deploy/prometheus/alerts.yaml."""
    result = run(tool("promtool"), "check", "rules", str(PROMETHEUS / "alerts.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_alert_rules_pass_their_unit_tests() -> None:
    """`promtool test rules`: each alert fires on its failure and stays quiet when healthy."""
    result = run(tool("promtool"), "test", "rules", "alerts.test.yaml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test() -> None:
    """No alert ships untested: each is expected to fire in at least one promtool case."""
    rules = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"]}
    cases = yaml.safe_load((PROMETHEUS / "alerts.test.yaml").read_text())["tests"]
    fired = {
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if check["exp_alerts"]
    }
    quiet = {
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if not check["exp_alerts"]
    }
    assert alerts == fired == quiet


def test_a_broken_rule_fails_promtool(tmp_path: Path) -> None:
    """The check is real: promtool rejects the file with a syntax error in one expression."""
    rules: dict[str, Any] = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())
    rules["groups"][0]["rules"][0]["expr"] = "sum by (source) (notifier_polls_total"
    broken = tmp_path / "alerts.yaml"
    broken.write_text(yaml.safe_dump(rules))
    result = run(tool("promtool"), "check", "rules", str(broken))
    assert result.returncode != 0 and "parse error" in (result.stdout + result.stderr)
