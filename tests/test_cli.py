"""The `notifier` command as users run it: exit codes, messages, no tracebacks, no secrets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from notifier.core.statuses import SourceType
from notifier.simulator import start_simulator
from tests.harness import API_KEY, REPO, daemon_env, write_config

EXAMPLE = REPO / "config" / "notifier.example.yaml"
ENV = {
    **os.environ,
    "LLAMA_CLOUD_API_KEY": "llx-cli-test-key-0042",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXsecret",
    "ONCALL_MAILTO": "mailto://oncall:mailpass99@smtp.example.com?to=ops@example.com",
    "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


def notifier(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        capture_output=True,
        text=True,
        env=env or ENV,
        cwd=REPO,
        timeout=timeout,
        check=False,
    )


class TestCheck:
    def test_example_config_is_valid(self) -> None:
        """`check` accepts the SPEC example and prints sources, channels and rules, no secrets."""
        result = notifier("check", "--config", str(EXAMPLE))
        assert result.returncode == 0, result.stderr
        out = result.stdout
        for expected in (
            "GET /api/v2/extract",
            "GET /api/v2/parse",
            "GET /api/v1/extraction/jobs",
            "GET /api/v1/extractionv2/runs",
            "failures-to-slack",
            "ops-slack, oncall-email",
            "POST https://pipeline.example.com/hooks/llamacloud (signed)",
        ):
            assert expected in out
        for secret in (
            "llx-cli-test-key-0042",
            "XXXXXXXXXXXXsecret",
            "mailpass99",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ):
            assert secret not in out + result.stderr

    def test_a_status_no_source_reports_is_a_warning(self, tmp_path: Path) -> None:
        """`FAILD` in a rule is most likely a typo: check says so, and still exits 0."""
        typo = tmp_path / "typo.yaml"
        typo.write_text(EXAMPLE.read_text().replace("status: [FAILED, ERROR]", "status: [FAILD]"))
        result = notifier("check", "--config", str(typo))
        assert result.returncode == 0, result.stderr
        assert "rules[0].when.status: 'FAILD' is not a status of any configured source" in (
            result.stdout
        )
        assert "warnings:" not in notifier("check", "--config", str(EXAMPLE)).stdout

    def test_a_store_path_this_host_cannot_write_is_a_warning(self, tmp_path: Path) -> None:
        """A store under a regular file cannot be created: check says so (exit 0, since the
        config may be meant for another host), instead of `run` failing later."""
        (tmp_path / "a-file").write_text("")
        env = {**ENV, "NOTIFIER_STORE__PATH": str(tmp_path / "a-file" / "notifier.db")}
        result = notifier("check", "--config", str(EXAMPLE), env=env)
        assert result.returncode == 0, result.stderr
        assert f"store.path: {tmp_path}/a-file/notifier.db is not writable here" in result.stdout

    def test_unknown_channel_exits_2_naming_the_field(self, tmp_path: Path) -> None:
        """A rule naming an unknown channel: exit 2, the field path, no traceback."""
        broken = tmp_path / "broken.yaml"
        broken.write_text(
            EXAMPLE.read_text().replace("notify: [ops-slack, oncall-email]", "notify: [slak]")
        )
        result = notifier("check", "--config", str(broken))
        assert result.returncode == 2
        assert "rules[0].notify[0]: unknown channel 'slak'" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout

    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            (("interval: 30s", "interval: soon"), "polling.interval: invalid duration"),
            (("interval: 30s", "intervall: 30s"), "polling.intervall: unknown key"),
            (("type: parse_v2", "type: parse_v3"), "sources[1].type"),
            (("stuck_after: 30m", "stuck_after: -5m"), "polling.stuck_after"),
        ],
    )
    def test_broken_configs_exit_2(
        self, tmp_path: Path, change: tuple[str, str], expected: str
    ) -> None:
        """Each broken config names its field and never shows a traceback or the key."""
        broken = tmp_path / "broken.yaml"
        broken.write_text(EXAMPLE.read_text().replace(*change, 1))
        result = notifier("check", "--config", str(broken))
        assert result.returncode == 2, result.stdout
        assert expected in result.stderr
        assert "Traceback" not in result.stderr and "llx-cli-test-key-0042" not in result.stderr

    @pytest.mark.parametrize("command", ["check", "once"])
    def test_apprise_url_apprise_cannot_read_exits_2(self, tmp_path: Path, command: str) -> None:
        """`check` and `run`/`once` reject the same apprise URLs: exit 2, the field named, the
        URL (it holds credentials) not quoted, no traceback, nothing polled."""
        broken = tmp_path / "broken.yaml"
        broken.write_text(EXAMPLE.read_text().replace("./data/notifier.db", str(tmp_path / "n.db")))
        env = {**ENV, "ONCALL_MAILTO": "notaservice://oncall:mailpass99@smtp.example.com"}
        result = notifier(command, "--config", str(broken), env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert (
            "channels.oncall-email.urls[0]: apprise does not understand this URL "
            "(scheme 'notaservice')" in result.stderr
        )
        assert "Traceback" not in result.stderr + result.stdout
        assert "mailpass99" not in result.stderr + result.stdout

    def test_missing_variable_and_missing_file(self, tmp_path: Path) -> None:
        """An unset ${VAR} and a missing file are errors that say so."""
        env = {k: v for k, v in ENV.items() if k != "LLAMA_CLOUD_API_KEY"}
        result = notifier("check", "--config", str(EXAMPLE), env=env)
        assert result.returncode == 2
        assert (
            "llamacloud.api_key: environment variable LLAMA_CLOUD_API_KEY is not set"
            in result.stderr
        )
        result = notifier("check", "--config", str(tmp_path / "nope.yaml"))
        assert result.returncode == 2 and "configuration file not found" in result.stderr

    def test_config_from_environment_variable(self) -> None:
        """Without --config, $NOTIFIER_CONFIG names the file."""
        result = notifier("check", env={**ENV, "NOTIFIER_CONFIG": str(EXAMPLE)})
        assert result.returncode == 0, result.stderr


def test_help_lists_every_command() -> None:
    """`notifier --help` names the commands of SPEC section 6."""
    result = notifier("--help")
    assert result.returncode == 0
    for command in (
        "run",
        "once",
        "check",
        "demo",
        "simulate",
        "events",
        "deliveries",
        "redeliver",
    ):
        assert command in result.stdout


def test_demo_shows_verified_throttled_and_cancelled_transitions(tmp_path: Path) -> None:
    """`notifier demo` prints signed transitions, THROTTLED and CANCELLED among them, by push
    and by poll, within seconds (about 10 on a quiet machine; the simulator's jobs change at
    random moments, so a loaded CI machine is given 40); from any directory, and a
    container's NOTIFIER_* settings never reach its real store."""
    real_store = tmp_path / "real.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier", "demo"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "NOTIFIER_STORE__PATH": str(real_store),
            "NOTIFIER_HTTP__LISTEN": "0.0.0.0:1",
        },
    )
    wanted = ("-> THROTTLED", "-> CANCELLED", " by push ", " by poll ")
    seen: list[str] = []
    shown = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            verified = [x for x in seen if "signature ok" in x]
            if all(any(w in x for x in verified) for w in wanted):
                shown.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    shown.wait(timeout=40)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    reader.join(timeout=5)
    out = "".join(seen)
    assert process.returncode == 0, err
    lines = [line for line in out.splitlines() if "signature ok" in line]
    assert any("-> THROTTLED" in line for line in lines), out
    assert any("-> CANCELLED" in line for line in lines), out
    assert any(" by push " in line for line in lines), out  # the fast path
    assert any(" by poll " in line for line in lines), out  # and the guarantee
    assert "health on http://127.0.0.1:" in out
    assert "Traceback" not in err and not real_store.exists()


def test_once_then_history_commands(tmp_path: Path) -> None:
    """`once` records and tries; `events`, `deliveries` and `redeliver` work on the store."""
    commands = [
        ["once"],
        ["events", "--json"],
        ["deliveries", "--json"],
        ["events"],
        ["deliveries", "--state", "dead"],
        ["redeliver"],  # bare: every dead delivery
        ["deliveries", "--state", "pending", "--json"],
        ["redeliver", "--channel", "hook"],
        ["events", "--since", "last tuesday"],
    ]

    async def scenario() -> list[subprocess.CompletedProcess[str]]:
        runner, url, sim = await start_simulator(api_key=API_KEY)
        sim.jobs.create(SourceType.EXTRACT_V2, "RUNNING", job_id="ext-cli-1")
        config = write_config(
            tmp_path / "config.yaml",
            url,
            "http://127.0.0.1:9/hook",  # nothing listens: the one attempt fails
            polling={"initial_sync": "notify"},
        )
        data = json.loads(config.read_text())
        data["channels"]["hook"]["max_attempts"] = 1
        config.write_text(json.dumps(data))
        results = []
        for args in commands:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "notifier",
                *args,
                "--config",
                str(config),
                cwd=REPO,
                env=daemon_env(),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await proc.communicate()
            results.append(
                subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(), err.decode())
            )
        await runner.cleanup()
        return results

    (
        once,
        events_json,
        deliveries_json,
        events_table,
        dead_table,
        redeliver,
        pending,
        again,
        bad_since,
    ) = asyncio.run(scenario())
    assert once.returncode == 0, once.stderr
    (event,) = [json.loads(line) for line in events_json.stdout.splitlines()]
    assert event["data"]["job_id"] == "ext-cli-1" and event["data"]["from_status"] is None
    assert "rule" not in event["data"]
    (delivery,) = [json.loads(line) for line in deliveries_json.stdout.splitlines()]
    assert (delivery["channel"], delivery["state"], delivery["attempts"]) == ("hook", "dead", 1)
    assert "channel 'hook'" in delivery["last_error"]
    assert "ext-cli-1" in events_table.stdout and "RUNNING" in events_table.stdout
    assert dead_table.stdout.splitlines()[0].split()[:3] == ["id", "channel", "state"]
    assert "ext-cli-1" in dead_table.stdout
    assert redeliver.returncode == 0 and redeliver.stdout.strip() == "requeued 1 dead delivery"
    (requeued,) = [json.loads(line) for line in pending.stdout.splitlines()]
    assert (requeued["id"], requeued["state"], requeued["attempts"]) == (
        delivery["id"],
        "pending",
        0,
    )
    assert again.returncode == 1 and again.stdout.strip() == "requeued 0 dead deliveries"
    assert bad_since.returncode == 2 and "Traceback" not in bad_since.stderr
    assert "--since 'last tuesday': expected an ISO time or a duration" in bad_since.stderr


async def test_test_channel_prints_the_answer(receiver: Any, tmp_path: Path) -> None:
    """`test-channel` sends a signed sample event and prints what the target said."""
    config = write_config(tmp_path / "config.yaml", "http://127.0.0.1:9", receiver.url)

    async def test_channel() -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "notifier",
            "test-channel",
            "hook",
            "--config",
            str(config),
            cwd=REPO,
            env=daemon_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return proc.returncode or 0, out.decode(), err.decode()

    code, out, err = await test_channel()
    assert code == 0, err
    assert out.strip().startswith("channel 'hook': HTTP 204 from http://127.0.0.1:")
    ((_, from_status, to_status),) = receiver.transitions()
    assert (from_status, to_status) == ("RUNNING", "FAILED") and receiver.bad == []
    receiver.fail_next = 1
    code, _, err = await test_channel()
    assert code == 1 and "answered HTTP 500" in err


def test_mute_list_unmute(tmp_path: Path) -> None:
    """Mutes are recorded with their end, listed, and removed; unknown names exit 2."""
    config = write_config(tmp_path / "config.yaml", "http://127.0.0.1:9", "http://127.0.0.1:9/hook")
    env = daemon_env()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "notifier", *args, "--config", str(config)],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=60,
            check=False,
        )

    muted = run("mute", "--channel", "hook", "--for", "2h", "--reason", "deploy")
    assert muted.returncode == 0 and muted.stdout.startswith("muted channel 'hook' until ")
    listed = run("mute", "--list")
    assert "channel 'hook'" in listed.stdout and "(deploy)" in listed.stdout
    unknown = run("mute", "--rule", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "notifier: no rule named 'nope' in the configuration"
    bad_for = run("mute", "--channel", "hook", "--for", "a while")
    assert bad_for.returncode == 2 and bad_for.stderr.startswith("notifier: --for 'a while': ")
    assert run("unmute", "--channel", "hook").stdout.strip() == "removed 1 mute"
    assert run("mute", "--list").stdout.strip() == "(no active mutes)"


def test_a_taken_http_port_is_a_clear_error(tmp_path: Path) -> None:
    """`run` whose http.listen is taken exits 1 naming the address, without a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(
            tmp_path / "config.yaml",
            "http://127.0.0.1:9",
            "http://127.0.0.1:9/hook",
            http={"enabled": True, "listen": f"127.0.0.1:{port}"},
        )
        result = notifier("run", "--config", str(config), env=daemon_env())
    assert result.returncode == 1
    assert f"http.listen 127.0.0.1:{port}: cannot listen there" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_simulate_stops_on_sigterm_and_names_a_taken_port() -> None:
    """`simulate` exits 0 on SIGTERM; a port already taken exits 1 naming it, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = notifier("simulate", "--port", str(port))
    assert busy.returncode == 1 and f"--port {port}: cannot listen" in busy.stderr
    assert "Traceback" not in busy.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier", "simulate", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("LlamaCloud simulator on http://127.0.0.1:")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in err
