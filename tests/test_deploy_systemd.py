"""The systemd unit is hardened (systemd-analyze scores it) and still runs the daemon under systemd.

No systemd runs as PID 1 on these machines, so the test boots one: the real `/lib/systemd/systemd`
as PID 1 of a fresh PID and mount namespace (`unshare`), knowing only the shipped unit and a few
empty targets (SYSTEMD_UNIT_PATH). The unit is used as shipped, sandbox and DynamicUser
included; a drop-in only sends its output to a file, since no journald runs there.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import sysconfig
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from notifier.errors import EXIT_CONFIG
from tests.deploy_tools import DEPLOY, missing, run, tool
from tests.harness import (
    API_KEY,
    REPO,
    WEBHOOK_SECRET,
    Receiver,
    Sim,
    eventually,
    free_port,
    serve,
    write_config,
)

UNIT = DEPLOY / "systemd" / "llamacloud-notifier.service"
MAX_EXPOSURE = 2.0
# Targets the unit's implicit and explicit dependencies name; empty ones satisfy them.
TARGETS = ("sysinit", "basic", "network-online", "multi-user", "shutdown", "sockets", "timers")


def restart_sec() -> int:
    found = re.search(r"^RestartSec=(\d+)$", UNIT.read_text(), re.MULTILINE)
    assert found, "the unit sets RestartSec="
    return int(found.group(1))


def exposure(output: str) -> float:
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", output)
    assert found, output[-2000:]
    return float(found.group(1))


def test_unit_scores_at_most_two() -> None:
    """`systemd-analyze security --offline=true` rates the shipped unit 2.0 or better."""
    analyze = tool("systemd-analyze")
    threshold = str(int(MAX_EXPOSURE * 10))  # systemd-analyze counts in tenths
    result = run(analyze, "security", "--offline=true", f"--threshold={threshold}", str(UNIT))
    score = exposure(result.stdout)
    assert result.returncode == 0 and score <= MAX_EXPOSURE, result.stdout[-3000:]


def test_unit_without_its_sandbox_is_rated_exposed(tmp_path: Path) -> None:
    """The sandbox block is what earns the score: cut it off and systemd-analyze objects."""
    analyze = tool("systemd-analyze")
    head = UNIT.read_text().split("# Sandbox.")[0]
    bare = tmp_path / UNIT.name
    bare.write_text(head + "\n[Install]\nWantedBy=multi-user.target\n")
    result = run(analyze, "security", "--offline=true", "--threshold=20", str(bare))
    assert result.returncode != 0 and exposure(result.stdout) > 5.0, result.stdout[-2000:]


@dataclass
class BootedSystemd:
    """systemd as PID 1 of its own namespaces, the unit's paths bound to the test's folders."""

    process: asyncio.subprocess.Process
    log: Path
    var_lib: Path
    port: int

    @property
    def pid1(self) -> int:
        """systemd's pid as the host sees it: unshare's only child."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return int(children.read_text().split()[0])

    async def systemctl(self, *args: str) -> str:
        nsenter = tool("nsenter")
        result = await asyncio.to_thread(
            run, nsenter, "-t", str(self.pid1), "-m", "-p", "--", "systemctl", *args, timeout=60
        )
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    async def show(self, *names: str) -> dict[str, str]:
        out = await self.systemctl("show", UNIT.name, *(f"--property={n}" for n in names))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def host_pid_of_service(self) -> int:
        """The daemon's pid on the host: systemd's child that runs the unit's ExecStart."""
        kids = Path(f"/proc/{self.pid1}/task/{self.pid1}/children").read_text().split()
        for kid in kids:
            if "notifier" in Path(f"/proc/{kid}/cmdline").read_text(errors="replace"):
                return int(kid)
        raise AssertionError(f"no notifier process under systemd: {kids}")


def interpreter_outside_home() -> str:
    """A Python of the test's minor version that ProtectHome=yes does not hide (/usr/bin)."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for folder in ("/usr/bin", "/usr/local/bin"):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    missing(f"{name} not found in /usr/bin: the unit's venv needs one outside /root and /home")
    raise AssertionError  # pragma: no cover (missing() does not return)


def install_like_the_readme(opt: Path) -> None:
    """/opt/llamacloud-notifier: a venv of the system Python that sees this checkout's code.

    pip is not run (that needs the network and a minute); instead a .pth file names the code
    and the test venv's packages at the paths they are bound to inside the namespace.
    """
    subprocess_result = run(interpreter_outside_home(), "-m", "venv", "--without-pip", str(opt))
    assert subprocess_result.returncode == 0, subprocess_result.stderr
    (site,) = opt.glob("lib/python3*/site-packages")
    (site / "notifier-checkout.pth").write_text(
        "/opt/llamacloud-notifier/src\n/opt/llamacloud-notifier/deps\n"
    )
    (opt / "src").mkdir()
    (opt / "deps").mkdir()
    script = opt / "bin" / "notifier"
    script.write_text(
        "#!/opt/llamacloud-notifier/bin/python\n"
        "import sys\nfrom notifier.cli.main import main\nsys.exit(main())\n"
    )
    script.chmod(0o755)


def unit_folder(units: Path, log: Path) -> None:
    units.mkdir()
    shutil.copy(UNIT, units / UNIT.name)
    for target in TARGETS:
        (units / f"{target}.target").write_text(f"[Unit]\nDescription=empty {target} (test)\n")
    (units / "notifier-test.target").write_text(f"[Unit]\nWants={UNIT.name}\n")
    dropin = units / f"{UNIT.name}.d"
    dropin.mkdir()
    (dropin / "output.conf").write_text(f"[Service]\nStandardOutput=append:{log}\n")


def boot_script(folders: dict[str, Path]) -> str:
    """Inside the namespaces: private /run, the unit's paths bound, then exec systemd."""
    site = sysconfig.get_paths()["purelib"]
    return (
        "set -e\n"
        "mount -t tmpfs tmpfs /run\n"
        f"mount --bind {folders['var-lib']} /var/lib\n"
        "mkdir -p /run/units /opt/llamacloud-notifier /etc/llamacloud-notifier\n"
        f"cp -r {folders['units']}/. /run/units/\n"
        f"mount --bind {folders['opt']} /opt/llamacloud-notifier\n"
        f"mount --bind {folders['etc']} /etc/llamacloud-notifier\n"
        f"mount --bind -o ro {REPO} /opt/llamacloud-notifier/src\n"
        f"mount --bind -o ro {site} /opt/llamacloud-notifier/deps\n"
        "export SYSTEMD_UNIT_PATH=/run/units container=notifier-test\n"
        "exec /lib/systemd/systemd --unit=notifier-test.target --log-target=console\n"
    )


def prepare(tmp_path: Path, sim: Sim, receiver: Receiver, port: int, chat: str) -> Path:
    """The folders systemd will see as /opt, /etc and /var/lib of the unit; the boot script."""
    if os.geteuid() != 0:
        missing("booting systemd in namespaces needs root (unshare --pid --mount)")
    if not Path("/lib/systemd/systemd").exists():
        missing("/lib/systemd/systemd not found: Debian's `systemd` package ships it")
    folders = {n: tmp_path / n for n in ("etc", "opt", "var-lib", "units")}
    folders["etc"].mkdir()
    folders["var-lib"].mkdir()
    install_like_the_readme(folders["opt"])
    unit_folder(folders["units"], tmp_path / "daemon.log")
    # By name, not address: the sandbox must still resolve hosts (glibc's NSS, /etc/hosts).
    write_config(
        folders["etc"] / "notifier.yaml",
        sim.url.replace("127.0.0.1", "localhost"),
        receiver.url.replace("127.0.0.1", "localhost"),
        http={"enabled": True},
        channels={"chat": {"type": "apprise", "urls": [chat]}},  # apprise's threads and requests
        rules=[{"name": "everything", "notify": ["hook", "chat"]}],
    )
    env = folders["etc"] / "env"
    env.write_text(
        f"TEST_LLAMA_KEY={API_KEY}\nTEST_WEBHOOK_SECRET={WEBHOOK_SECRET}\n"
        f"NOTIFIER_HTTP__LISTEN=127.0.0.1:{port}\n"  # the env file overrides Environment=
    )
    env.chmod(0o600)
    script = tmp_path / "boot.sh"
    script.write_text(boot_script(folders))
    return script


@pytest.fixture
async def chat() -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
    """A loopback target for apprise's json:// plugin: the posts it got and its apprise URL."""
    posts: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        posts.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/chat", handle)
    runner, base = await serve(app)
    yield posts, base.replace("http://127.0.0.1", "json://localhost") + "/chat"
    await runner.cleanup()


@pytest.fixture
async def booted(
    tmp_path: Path, sim: Sim, receiver: Receiver, chat: tuple[list[dict[str, Any]], str]
) -> AsyncIterator[BootedSystemd]:
    """systemd booted with the unit, its config and env file pointing at the simulator."""
    port = free_port()
    script = prepare(tmp_path, sim, receiver, port, chat[1])
    unshare = tool("unshare")
    with (tmp_path / "systemd.log").open("wb") as systemd_log:
        process = await asyncio.create_subprocess_exec(
            *(unshare, "--pid", "--fork", "--mount", "--uts", "--mount-proc", "--kill-child"),
            *("bash", str(script)),
            stdout=systemd_log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        yield BootedSystemd(process, tmp_path / "daemon.log", tmp_path / "var-lib", port)
    finally:
        process.kill()  # --kill-child: systemd and everything it started go with unshare
        await process.wait()


async def http_ok(url: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert asyncio.get_running_loop().time() < deadline, f"{url} never answered 200"
            await asyncio.sleep(0.2)


def proc_mount_of(pid: int) -> str:
    """The mountinfo line of /proc as process `pid` sees it (its own mount namespace)."""
    lines = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
    (line,) = [line for line in lines if line.split()[4] == "/proc"]
    return line


def status_fields(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


async def test_unit_runs_the_daemon_under_systemd(
    booted: BootedSystemd, sim: Sim, receiver: Receiver, chat: tuple[list[dict[str, Any]], str]
) -> None:
    """As shipped, the unit starts the daemon sandboxed; it polls, delivers, stops and resumes."""
    base = f"http://127.0.0.1:{booted.port}"
    await http_ok(f"{base}/readyz")
    job = await sim.create("extract_v2")
    await sim.set_status(job, "RUNNING")
    await receiver.wait_for(lambda: bool(receiver.transitions(job)))
    await eventually(lambda: asyncio.sleep(0, result=any(job in str(p) for p in chat[0])))
    # The sandbox holds: a dynamic non-root user, no capabilities, seccomp, no new privileges.
    daemon = booted.host_pid_of_service()
    proc = status_fields(daemon)
    assert proc["Uid"].split()[0] != "0" and proc["CapEff"] == "0" * 16, proc
    assert proc["NoNewPrivs"] == "1" and proc["Seccomp"] == "2", proc
    # Its own /proc hides other processes, yet keeps /proc/stat (no subset=pid): the
    # process_* metrics of prometheus_client read the boot time there.
    proc_mount = proc_mount_of(daemon)
    assert "hidepid=invisible" in proc_mount and "subset=pid" not in proc_mount, proc_mount
    store = booted.var_lib / "private" / "llamacloud-notifier" / "notifier.db"
    assert store.exists() and store.stat().st_mode & 0o077 == 0  # UMask=0077
    assert store.stat().st_uid == int(proc["Uid"].split()[0])

    await booted.systemctl("stop", UNIT.name)  # SIGTERM, as `systemctl stop` sends it
    stopped = await booted.show("Result", "ExecMainStatus", "ActiveState")
    assert stopped == {"Result": "success", "ExecMainStatus": "0", "ActiveState": "inactive"}
    announced = list(receiver.received)

    await booted.systemctl("start", UNIT.name)  # resumes from the same StateDirectory
    await http_ok(f"{base}/readyz")
    await sim.set_status(job, "COMPLETED")
    await receiver.wait_for(
        lambda: ("RUNNING", "COMPLETED") in {t[1:] for t in receiver.transitions(job)}
    )
    ids = [r.webhook_id for r in receiver.received]
    assert len(ids) == len(set(ids)), "a restart re-announced a transition"
    assert receiver.received[: len(announced)] == announced
    assert "started" in booted.log.read_text() and API_KEY not in booted.log.read_text()


async def test_a_broken_configuration_is_not_restarted(booted: BootedSystemd) -> None:
    """Exit 2 names the field and stays down: RestartPreventExitStatus=2 beats on-failure."""
    await http_ok(f"http://127.0.0.1:{booted.port}/healthz")
    config = booted.var_lib.parent / "etc" / "notifier.yaml"
    config.write_text(config.read_text().replace('"polling": {', '"polling": {"intervall": "1s", '))
    await booted.systemctl("restart", UNIT.name)

    async def failed() -> bool:
        return (await booted.show("ActiveState"))["ActiveState"] == "failed"

    await eventually(failed, timeout=20)
    await asyncio.sleep(restart_sec() + 1)  # past RestartSec=: a restart would have come by now
    state = await booted.show("ActiveState", "ExecMainStatus", "NRestarts", "Result")
    assert state == {
        "ActiveState": "failed",
        "ExecMainStatus": str(EXIT_CONFIG),
        "NRestarts": "0",
        "Result": "exit-code",
    }
    assert "polling.intervall" in booted.log.read_text()
