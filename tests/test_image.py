"""The Dockerfile and the ignore files agree with Kubernetes, pyproject.toml and the README.

These read files; the image itself is built and run by deploy/image-test.sh (CI: .ci/run),
which also checks .dockerignore with the engine's own matching.
"""

from __future__ import annotations

import fnmatch
import shlex
import shutil
import subprocess
import tomllib

import pytest

from tests.harness import REPO
from tests.test_deploy import deployment, dockerfile

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
SECRET_FILES = ["config/notifier.yaml", "deploy/.env"]  # the README has users fill these in


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, one list per FROM (the ARGs before it excluded)."""
    found: list[list[tuple[str, str]]] = []
    for word, rest in dockerfile():
        if word == "FROM":
            found.append([])
        if found:
            found[-1].append((word, rest))
    return found


def runs(stage: list[tuple[str, str]]) -> str:
    return " ".join(rest for word, rest in stage if word == "RUN")


def labels() -> dict[str, str]:
    pairs: dict[str, str] = {}
    for word, rest in stages()[-1]:
        if word == "LABEL":
            pairs.update(pair.partition("=")[::2] for pair in shlex.split(rest))
    return pairs


def arg_defaults() -> dict[str, str]:
    return {
        key: value
        for key, _, value in (rest.partition("=") for word, rest in dockerfile() if word == "ARG")
        if value
    }


def test_user_and_group_match_kubernetes() -> None:
    """uid and gid 10001 in the image are what the Deployment runs as and owns /data with."""
    context = deployment()["spec"]["template"]["spec"]["securityContext"]
    uid, gid = context["runAsUser"], context["runAsGroup"]
    assert context["fsGroup"] == gid
    final = stages()[-1]
    assert next(rest for word, rest in final if word == "USER") == f"{uid}:{gid}"
    setup = shlex.split(runs(final))
    assert setup[setup.index("groupadd") + 1 : setup.index("groupadd") + 3] == ["--gid", str(gid)]
    useradd = setup[setup.index("useradd") :]
    assert useradd[useradd.index("--uid") + 1] == str(uid)
    assert useradd[useradd.index("--gid") + 1] == str(gid)
    assert f"chown {uid}:{gid} /data" in runs(final)


def test_oci_labels_follow_pyproject() -> None:
    """Title, description, licence and version follow pyproject.toml; the rest are build args."""
    found = labels()
    prefix = "org.opencontainers.image."
    assert found[prefix + "title"] == PROJECT["name"]
    assert found[prefix + "description"] == PROJECT["description"]
    assert found[prefix + "licenses"] == PROJECT["license"]
    assert found[prefix + "version"] == "${VERSION}"
    assert arg_defaults()["VERSION"] == PROJECT["version"]
    for key, arg in [("revision", "REVISION"), ("created", "CREATED"), ("base.name", "BASE_IMAGE")]:
        assert found[prefix + key] == "${" + arg + "}"


def test_runtime_stage_installs_nothing() -> None:
    """pip runs only in the build stage and leaves its venv; the runtime stage copies the venv."""
    build, final = stages()
    assert "pip install -c deploy/constraints.txt ." in runs(build)
    assert "/opt/notifier/bin/pip uninstall --yes --quiet pip setuptools" in runs(build)
    assert "pip install" not in runs(final) and "apt-get" not in runs(final)
    copies = [rest for word, rest in final if word == "COPY" and rest.startswith("--from=")]
    assert copies == ["--from=build /opt/notifier /opt/notifier"]


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout"
)
def test_git_ignores_secret_files_and_image_state() -> None:
    """What users fill with secrets, and the image test's storage, never get committed."""
    for path in [*SECRET_FILES, ".image-test/storage/x"]:
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, check=False)
        assert ignored.returncode == 0, path
    kept = subprocess.run(
        ["git", "check-ignore", "-q", "config/notifier.example.yaml"], cwd=REPO, check=False
    )
    assert kept.returncode == 1  # the example stays tracked: the image copies it


def test_dockerignore_keeps_secrets_out_and_what_the_build_needs_in() -> None:
    """Secret files, tests and the image test's storage stay out; every COPY source stays in."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {*SECRET_FILES, ".image-test", "tests", ".git"} <= set(patterns)
    sources = [
        source
        for word, rest in dockerfile()
        if word == "COPY" and not rest.startswith("--from=")
        for source in rest.split()[:-1]
    ]
    assert "notifier" in sources and "config/notifier.example.yaml" in sources
    for source in sources:
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in patterns), source
