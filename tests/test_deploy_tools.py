"""Every deployment file passes the validator of its own ecosystem, run for real.

promtool checks and unit-tests the alert rules; kubectl builds the kustomization (and each
optional component) offline and kubernetes-validate --strict checks what it builds against
the Kubernetes schemas; docker-compose parses the compose file. Where a tool is missing the
test says how to get it (and fails under CI, see tests/deploy_tools.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from notifier import __version__
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


# --- Kubernetes: kubectl kustomize (offline) builds it, kubernetes-validate --strict checks it.

KUBERNETES = DEPLOY / "kubernetes"
COMPONENTS = ("service-monitor", "prometheus-rule")
RECOMMENDED_LABELS = {
    "app.kubernetes.io/name": "llamacloud-notifier",
    "app.kubernetes.io/instance": "llamacloud-notifier",
    "app.kubernetes.io/version": __version__,
    "app.kubernetes.io/part-of": "llamacloud-notifier",
    "app.kubernetes.io/managed-by": "kustomize",
}


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize FOLDER`: what `kubectl apply -k` would send, as documents."""
    result = run(tool("kubectl"), "kustomize", str(folder))
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def validate(documents: list[dict[str, Any]], folder: Path) -> str:
    """kubernetes-validate --strict on the built documents; its report (warnings included)."""
    built = folder / "built.yaml"
    built.write_text(yaml.safe_dump_all(documents))
    result = run(tool("kubernetes-validate"), "--strict", str(built))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def overlay(tmp_path: Path, *components: str) -> Path:
    """A user's overlay: the shipped base plus the named optional components."""
    folder = tmp_path / "overlay"
    folder.mkdir(parents=True)
    base = os.path.relpath(KUBERNETES, folder)
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [base],
                "components": [f"{base}/components/{c}" for c in components],
            }
        )
    )
    return folder


def by_kind(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in documents}


def test_kustomization_builds_and_passes_strict_validation(tmp_path: Path) -> None:
    """`kubectl apply -k deploy/kubernetes` would send schema-valid objects, nothing unknown."""
    documents = kustomize(KUBERNETES)
    kinds = by_kind(documents)
    assert set(kinds) == {
        "ServiceAccount",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
    }
    report = validate(documents, tmp_path)
    assert report.count(" passed for resource ") == len(documents) and "WARN" not in report


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    """A manifest added to the folder is applied by -k; the placeholder Secret never is."""
    listed = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"]
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == files - {"secret.example.yaml"}


def test_pod_has_no_api_token_and_a_startup_probe() -> None:
    """Own ServiceAccount without a token, startupProbe on /healthz, image from `images:`."""
    kinds = by_kind(kustomize(KUBERNETES))
    account = kinds["ServiceAccount"]
    assert account["automountServiceAccountToken"] is False
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    (container,) = pod["containers"]
    startup = container["startupProbe"]
    assert (
        startup["httpGet"]
        == container["livenessProbe"]["httpGet"]
        == {
            "path": "/healthz",
            "port": "http",
        }
    )
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
    assert container["image"] == f"llamacloud-notifier:{__version__}"
    images = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["images"]
    assert [i["name"] for i in images] == [container["image"].split(":")[0]]
    assert "latest" not in (KUBERNETES / "deployment.yaml").read_text()


def test_every_object_carries_the_recommended_labels(tmp_path: Path) -> None:
    """app.kubernetes.io/{name,instance,version,component,part-of,managed-by}, components too."""
    for document in kustomize(overlay(tmp_path, *COMPONENTS)):
        labels = document["metadata"]["labels"]
        assert RECOMMENDED_LABELS.items() <= labels.items(), document["kind"]
        assert labels["app.kubernetes.io/component"] in ("daemon", "monitoring")
    pod = by_kind(kustomize(KUBERNETES))["Deployment"]["spec"]["template"]["metadata"]
    assert RECOMMENDED_LABELS.items() <= pod["labels"].items()


def test_optional_components_build_and_match_the_base(tmp_path: Path) -> None:
    """ServiceMonitor scrapes the Service's port; PrometheusRule is alerts.yaml, promtool-clean."""
    documents = kustomize(overlay(tmp_path, *COMPONENTS))
    kinds = by_kind(documents)
    report = validate(documents, tmp_path)
    # kubernetes-validate knows no CRD schemas: it says so for these two and checks the rest.
    assert report.count(" passed for resource ") == len(documents) - 2
    assert report.count("Couldn't find schema") == 2
    monitor, service = kinds["ServiceMonitor"], kinds["Service"]
    assert (
        monitor["apiVersion"] == kinds["PrometheusRule"]["apiVersion"] == "monitoring.coreos.com/v1"
    )
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    alerts = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())
    assert kinds["PrometheusRule"]["spec"] == alerts
    rules = tmp_path / "from-prometheusrule.yaml"
    rules.write_text(yaml.safe_dump(kinds["PrometheusRule"]["spec"]))
    checked = run(tool("promtool"), "check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for component in COMPONENTS:  # each one alone builds too
        assert len(kustomize(overlay(tmp_path / component, component))) == 6


def test_strict_validation_rejects_an_unknown_field(tmp_path: Path) -> None:
    """The validator is real: a misspelt field in the Deployment fails --strict."""
    documents = kustomize(KUBERNETES)
    deployment = by_kind(documents)["Deployment"]
    deployment["spec"]["template"]["spec"]["automountServiceAcountToken"] = False
    built = tmp_path / "typo.yaml"
    built.write_text(yaml.safe_dump_all(documents))
    result = run(tool("kubernetes-validate"), "--strict", str(built))
    assert result.returncode != 0 and "automountServiceAcountToken" in result.stdout + result.stderr


# --- Docker Compose: docker-compose config parses and validates it against the compose schema.


def compose_config(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose --profile demo config` on a copy beside an empty .env (it must exist)."""
    folder = tmp_path / "deploy"
    folder.mkdir(parents=True)
    (folder / "docker-compose.yml").write_text(text)
    (folder / ".env").touch()
    return run(tool("docker-compose"), "--profile", "demo", "config", cwd=folder)


def test_compose_file_passes_docker_compose_config(tmp_path: Path) -> None:
    """Every service, demo profile included, is read-only, capability-free, no-new-privileges."""
    result = compose_config(tmp_path, (DEPLOY / "docker-compose.yml").read_text())
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"notifier", "simulator", "demo"}
    for name, service in services.items():
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"] and not service.get("cap_add"), name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "/tmp" in service["tmpfs"] and not service.get("privileged"), name
    writable = [v for v in services["notifier"]["volumes"] if not v.endswith(":ro")]
    assert writable == ["notifier-data:/data:rw"]


def test_docker_compose_rejects_an_unknown_option(tmp_path: Path) -> None:
    """The validator is real: a misspelt option fails `docker-compose config`."""
    text = (DEPLOY / "docker-compose.yml").read_text().replace("read_only:", "read_onyl:")
    result = compose_config(tmp_path, text)
    assert result.returncode != 0 and "read_onyl" in result.stderr
