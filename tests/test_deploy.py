"""deploy/ and the Dockerfile agree with the code: ports, paths, probes, variables, commands.

No Docker engine runs here, so the image's install and start commands are exercised outside
Docker: the pinned install is resolved by pip, and the entrypoint runs with the image's ENV.
"""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from notifier.config.load import load_settings
from notifier.config.models import HttpConfig, StoreConfig
from notifier.errors import EXIT_CONFIG
from notifier.status.http import create_app
from notifier.store.db import Store
from tests.harness import API_KEY, REPO, Sim, free_port

DEPLOY = REPO / "deploy"
ENV_FOR_CONFIGS = {
    "LLAMA_CLOUD_API_KEY": "llx-deploy-test",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX",
    "ONCALL_MAILTO": "mailto://user:pass@example.com",
    "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}
DEFAULT_PORT = HttpConfig().port


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, argument) pairs with continuation lines joined."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in dockerfile():
        if word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def k8s_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def deployment() -> dict[str, Any]:
    return next(d for d in k8s_documents() if d["kind"] == "Deployment")


def routes() -> set[str]:
    store = Store(":memory:")
    app = create_app(store, [], interval=timedelta(seconds=1), clock=lambda: datetime.now(UTC))
    return {r.resource.canonical for r in app.router.routes() if r.resource is not None}


def test_every_deploy_file_parses() -> None:
    """YAML, the systemd unit and the constraints file all parse."""
    for path in DEPLOY.rglob("*"):
        if path.suffix in (".yaml", ".yml"):
            assert list(yaml.safe_load_all(path.read_text())), path
        elif path.suffix == ".service":
            unit = configparser.ConfigParser(strict=False, interpolation=None)
            unit.optionxform = str  # type: ignore[assignment,method-assign]
            unit.read(path)
            assert {"Unit", "Service", "Install"} <= set(unit.sections())
    lines = [
        ln
        for ln in (DEPLOY / "constraints.txt").read_text().splitlines()
        if ln and not ln.startswith("#")
    ]
    assert all("==" in ln for ln in lines) and len(lines) > 20


def test_dockerfile_matches_the_code() -> None:
    """Non-root, /data volume, the default port, a /healthz healthcheck, `notifier run`."""
    instructions = dockerfile()
    words = [w for w, _ in instructions]
    assert words.count("FROM") == 2  # multi-stage
    # Both stages stand on one base, an ARG that mirrors override; python:3.11-slim by default.
    assert instructions[0] == ("ARG", "BASE_IMAGE=python:3.11-slim")
    assert all(rest.startswith("${BASE_IMAGE}") for w, rest in instructions if w == "FROM")
    user = next(rest for w, rest in instructions if w == "USER")
    assert user not in ("root", "0")
    assert json.loads(next(rest for w, rest in instructions if w == "VOLUME")) == ["/data"]
    assert next(rest for w, rest in instructions if w == "EXPOSE") == str(DEFAULT_PORT)
    healthcheck = next(rest for w, rest in instructions if w == "HEALTHCHECK")
    # The probe follows NOTIFIER_HTTP__LISTEN (run for real below), 8080 by default.
    assert "NOTIFIER_HTTP__LISTEN', ':8080'" in healthcheck and "/healthz" in routes()
    assert json.loads(next(rest for w, rest in instructions if w == "ENTRYPOINT")) == ["notifier"]
    assert json.loads(next(rest for w, rest in instructions if w == "CMD")) == ["run"]
    assert any("-c deploy/constraints.txt" in rest for w, rest in instructions if w == "RUN")
    env = docker_env()
    assert env["NOTIFIER_STORE__PATH"].startswith("/data/")
    assert env["NOTIFIER_HTTP__LISTEN"].endswith(f":{DEFAULT_PORT}")


def test_environment_variables_are_real_settings(tmp_path: Path) -> None:
    """Every NOTIFIER_* variable the deploy files set changes the setting it names."""
    names: set[str] = set(docker_env())
    container = deployment()["spec"]["template"]["spec"]["containers"][0]
    names |= {e["name"] for e in container["env"]}
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    names |= set(compose["services"]["notifier"]["environment"])
    unit = (DEPLOY / "systemd" / "llamacloud-notifier.service").read_text()
    names |= {
        line.split("=", 2)[1] for line in unit.splitlines() if line.startswith("Environment=")
    }
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump({"llamacloud": {"api_key": "k-1234"}, "sources": [{"type": "parse_v2"}]})
    )
    values = {
        "NOTIFIER_STORE__PATH": "/data/x.db",
        "NOTIFIER_HTTP__LISTEN": "0.0.0.0:9999",
        "NOTIFIER_CONFIG": str(config),
    }
    notifier_names = {n for n in names if n.startswith("NOTIFIER_")}
    assert notifier_names == set(values), notifier_names ^ set(values)
    settings = load_settings(None, values)
    assert str(settings.store.path) == "/data/x.db" and settings.http.port == 9999
    assert StoreConfig().path.name == "notifier.db"


def test_kubernetes_manifests_match_the_code() -> None:
    """Probes on real paths and the default port, /data on the PVC, one Recreate replica."""
    spec = deployment()["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]
    container = pod["spec"]["containers"][0]
    port = container["ports"][0]
    assert port["containerPort"] == DEFAULT_PORT
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"/healthz", "/readyz", "/metrics"} <= routes()
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics" and annotations[
        "prometheus.io/port"
    ] == str(DEFAULT_PORT)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["NOTIFIER_STORE__PATH"].startswith(mounts["data"] + "/")
    assert env["NOTIFIER_CONFIG"].startswith(mounts["config"] + "/")
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    kinds = {d["kind"]: d for d in k8s_documents()}
    assert (
        volumes["data"]["persistentVolumeClaim"]["claimName"]
        == kinds["PersistentVolumeClaim"]["metadata"]["name"]
    )
    assert container["envFrom"][0]["secretRef"]["name"] == kinds["Secret"]["metadata"]["name"]
    configmap = kinds["ConfigMap"]
    assert volumes["config"]["configMap"]["name"] == configmap["metadata"]["name"]
    config_file = Path(env["NOTIFIER_CONFIG"]).name
    secrets = kinds["Secret"]["stringData"]
    settings_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"k8s-{os.getpid()}.yaml"
    settings_path.write_text(configmap["data"][config_file])
    try:
        settings = load_settings(
            settings_path, {**secrets, "WEBHOOK_SECRET": ENV_FOR_CONFIGS["WEBHOOK_SECRET"]}
        )
    finally:
        settings_path.unlink()
    assert settings.http.port == DEFAULT_PORT and str(settings.store.path).startswith(
        mounts["data"]
    )
    assert set(secrets) >= {"LLAMA_CLOUD_API_KEY"}


def test_compose_and_systemd_match_the_code() -> None:
    """Compose keeps /data on a volume and runs the demo profile; systemd runs `notifier run`."""
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    notifier = compose["services"]["notifier"]
    assert any(v.endswith(":/data") for v in notifier["volumes"]) and notifier["env_file"]
    assert notifier["ports"][0].endswith(f":{DEFAULT_PORT}")
    assert compose["services"]["simulator"]["profiles"] == ["demo"]
    assert compose["services"]["simulator"]["command"][0] == "simulate"
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "systemd" / "llamacloud-notifier.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("/bin/notifier run")
    assert service["KillSignal"] == "SIGTERM"
    # A broken configuration (exit 2) is not restarted into a loop.
    assert service["RestartPreventExitStatus"] == str(EXIT_CONFIG)
    environment = unit.get("Service", "Environment")  # the last Environment= line wins here
    assert service["StateDirectory"] == "llamacloud-notifier"
    assert (
        "NOTIFIER_STORE__PATH=/var/lib/llamacloud-notifier/notifier.db"
        in (DEPLOY / "systemd" / "llamacloud-notifier.service").read_text()
    )
    assert environment.startswith("NOTIFIER_")


def test_pinned_install_resolves() -> None:
    """`pip install -c deploy/constraints.txt .` (the image's install) resolves to the pins."""
    report = Path(os.environ.get("TMPDIR", "/tmp")) / f"pip-report-{os.getpid()}.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--ignore-installed",
            "--report",
            str(report),
            "-c",
            str(DEPLOY / "constraints.txt"),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    pins = dict(
        ln.split("==") for ln in (DEPLOY / "constraints.txt").read_text().splitlines() if "==" in ln
    )
    resolved = {
        i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"]
        for i in json.loads(report.read_text())["install"]
    }
    report.unlink()
    resolved.pop("llamacloud-notifier")
    resolved.pop("pip", None)  # sqlite-utils names pip; every virtualenv brings its own
    assert resolved == pins


async def test_container_start_command_outside_docker(sim: Sim, tmp_path: Path) -> None:
    """ENTRYPOINT + CMD with the image's ENV serve /healthz; the HEALTHCHECK command passes."""
    port = free_port()
    env = {**os.environ, **docker_env(), **ENV_FOR_CONFIGS}
    env.update(
        {
            "NOTIFIER_CONFIG": str(
                REPO / "config" / "notifier.example.yaml"
            ),  # the image copies it
            "NOTIFIER_STORE__PATH": str(
                tmp_path / "data" / "notifier.db"
            ),  # /data is not writable here
            "NOTIFIER_HTTP__LISTEN": f"127.0.0.1:{port}",
            "NOTIFIER_LLAMACLOUD__BASE_URL": sim.url,
            "NOTIFIER_LLAMACLOUD__API_KEY": API_KEY,
        }
    )
    instructions = dockerfile()
    entrypoint = json.loads(next(rest for w, rest in instructions if w == "ENTRYPOINT"))
    command = json.loads(next(rest for w, rest in instructions if w == "CMD"))
    binary = str(Path(sys.executable).parent / entrypoint[0])
    process = await asyncio.create_subprocess_exec(
        binary,
        *command,
        env=env,
        cwd=str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"http://127.0.0.1:{port}/healthz") as r,
                ):
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        healthcheck = next(rest for w, rest in instructions if w == "HEALTHCHECK")
        probe = shlex.split(healthcheck.split(" CMD ", 1)[1])
        probe[0] = sys.executable
        checked = await asyncio.to_thread(
            subprocess.run, probe, capture_output=True, timeout=10, check=False, env=env
        )
        assert checked.returncode == 0, checked.stderr
        elsewhere = {**env, "NOTIFIER_HTTP__LISTEN": f"127.0.0.1:{free_port()}"}
        failed = await asyncio.to_thread(
            subprocess.run, probe, capture_output=True, timeout=10, check=False, env=elsewhere
        )
        assert failed.returncode != 0  # the probe really looks where the setting says
    finally:
        process.terminate()
        output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()[-2000:]
    assert "llx-deploy-test" not in output.decode() and API_KEY not in output.decode()


@pytest.mark.parametrize("path", ["Dockerfile", ".dockerignore"])
def test_build_files_exist(path: str) -> None:
    """The image's build context is described and trimmed."""
    assert (REPO / path).read_text().strip()
