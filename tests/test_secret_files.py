"""Secrets from files: `_file` siblings and secrets directories, read from real files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from notifier.assemble import secret_values
from notifier.config.base import ConfigError
from notifier.config.load import load_settings
from notifier.config.models import Settings
from notifier.config.routing import AppriseChannelConfig, WebhookChannelConfig
from tests.harness import run_notifier

KEY = "llx-from-a-file-7f3a9c"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def config(tmp_path: Path, data: dict[str, Any]) -> Path:
    data = {"sources": [{"type": "extract_v2"}], **data}
    return write(tmp_path / "notifier.yaml", yaml.safe_dump(data))


def load(tmp_path: Path, data: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
    return load_settings(config(tmp_path, data), env or {})


def error(tmp_path: Path, data: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, data, env)
    return str(caught.value)


class TestFileSiblings:
    def test_every_secret_key_reads_its_file(self, tmp_path: Path) -> None:
        """Each `_file` key of SPEC §9 fills its key with the file's text, newline stripped."""
        files = {
            name: write(tmp_path / name, f"{text}\n")
            for name, text in (
                ("api_key", KEY),
                ("hook_secret", WEBHOOK_SECRET),
                ("http_token", "http-token-from-file-1"),
                ("native_secret", "native-secret-from-file-2"),
                ("native_token", "native-token-from-file-3"),
            )
        }
        urls = write(
            tmp_path / "urls",
            "# the on-call targets\njson://127.0.0.1:9/a\n\n  mailto://bot:pw-file@127.0.0.1\r\n",
        )
        settings = load(
            tmp_path,
            {
                "llamacloud": {"api_key_file": str(files["api_key"])},
                "http": {"token_file": str(files["http_token"])},
                "native_webhooks": {
                    "secret_file": str(files["native_secret"]),
                    "token_file": str(files["native_token"]),
                },
                "channels": {
                    "hook": {
                        "type": "webhook",
                        "url": "http://127.0.0.1:9/hook",
                        "secret_file": str(files["hook_secret"]),
                    },
                    "chat": {"type": "apprise", "urls_file": str(urls)},
                },
            },
        )
        assert settings.llamacloud.api_key.get_secret_value() == KEY
        assert settings.http.token is not None
        assert settings.http.token.get_secret_value() == "http-token-from-file-1"
        native = settings.native_webhooks
        assert native.enabled and native.secret is not None and native.token is not None
        assert native.secret.get_secret_value() == "native-secret-from-file-2"
        assert native.token.get_secret_value() == "native-token-from-file-3"
        hook = settings.channels["hook"]
        assert isinstance(hook, WebhookChannelConfig) and hook.secret is not None
        assert hook.secret.get_secret_value() == WEBHOOK_SECRET
        chat = settings.channels["chat"]
        assert isinstance(chat, AppriseChannelConfig)
        assert [u.get_secret_value() for u in chat.urls] == [
            "json://127.0.0.1:9/a",
            "mailto://bot:pw-file@127.0.0.1",
        ]
        # What came from files is masked in logs like any secret.
        masked = secret_values(settings)
        for value in (KEY, WEBHOOK_SECRET, "http-token-from-file-1", "native-token-from-file-3"):
            assert value in masked
        assert "pw-file" in masked

    def test_only_trailing_newlines_are_stripped(self, tmp_path: Path) -> None:
        """A key that ends in spaces keeps them; CRLF and several newlines go."""
        key = write(tmp_path / "key", "  llx-spaced-key  \r\n\n")
        settings = load(tmp_path, {"llamacloud": {"api_key_file": str(key)}})
        assert settings.llamacloud.api_key.get_secret_value() == "  llx-spaced-key  "

    def test_both_is_an_error(self, tmp_path: Path) -> None:
        """The key and its _file sibling at once: which one is meant is not guessed."""
        key = write(tmp_path / "key", KEY)
        message = error(tmp_path, {"llamacloud": {"api_key": "x-123", "api_key_file": str(key)}})
        assert message == "llamacloud.api_key_file: give api_key or api_key_file, not both"
        channel = {"type": "webhook", "url": "http://127.0.0.1:9/", "secret": WEBHOOK_SECRET}
        message = error(
            tmp_path,
            {
                "llamacloud": {"api_key": "k-123456"},
                "channels": {"hook": {**channel, "secret_file": str(key)}},
            },
        )
        assert message == "channels.hook.secret_file: give secret or secret_file, not both"

    @pytest.mark.parametrize(
        ("problem", "expected"),
        [
            ("missing", "No such file or directory"),
            ("directory", "Is a directory"),
            ("empty", "is empty"),
            ("binary", "is not UTF-8 text"),
            ("huge", "is larger than 64 KiB"),
        ],
    )
    def test_unreadable_file_names_key_and_path(
        self, tmp_path: Path, problem: str, expected: str
    ) -> None:
        """A file that cannot serve: the key and the path in the message, never the content."""
        path = tmp_path / problem
        if problem == "directory":
            path.mkdir()
        elif problem == "empty":
            path.write_text("\n")
        elif problem == "binary":
            path.write_bytes(b"llx-\xff\xfe-secret")
        elif problem == "huge":
            path.write_text("llx-huge-secret" * 10_000)
        message = error(tmp_path, {"llamacloud": {"api_key_file": str(path)}})
        assert message.startswith("llamacloud.api_key_file: ")
        assert str(path) in message and expected in message
        assert "llx-" not in message  # no byte of what the file holds

    def test_urls_file_without_a_url(self, tmp_path: Path) -> None:
        """Only comments: no target, said as such."""
        urls = write(tmp_path / "urls", "# nothing yet\n\n")
        message = error(
            tmp_path,
            {
                "llamacloud": {"api_key": "k-123456"},
                "channels": {"chat": {"type": "apprise", "urls_file": str(urls)}},
            },
        )
        assert message == f"channels.chat.urls_file: {urls} holds no URL (one a line)"

    def test_file_named_by_an_environment_variable(self, tmp_path: Path) -> None:
        """NOTIFIER_..._FILE variables work like the YAML key (containers set them)."""
        key = write(tmp_path / "key", KEY)
        settings = load(tmp_path, {}, {"NOTIFIER_LLAMACLOUD__API_KEY_FILE": str(key)})
        assert settings.llamacloud.api_key.get_secret_value() == KEY


class TestSecretsDirectory:
    def test_credentials_directory_fills_missing_keys(self, tmp_path: Path) -> None:
        """systemd's $CREDENTIALS_DIRECTORY: a file named like the NOTIFIER_ variable."""
        creds = tmp_path / "credentials"
        creds.mkdir()
        write(creds / "notifier_llamacloud__api_key", f"{KEY}\n")
        write(creds / "NOTIFIER_HTTP__TOKEN", "dir-token-44\n")
        (creds / "tls.der").write_bytes(b"\x30\x82\xff\xfe")  # another service's secret
        settings = load(tmp_path, {}, {"CREDENTIALS_DIRECTORY": str(creds)})
        assert settings.llamacloud.api_key.get_secret_value() == KEY
        assert settings.http.token is not None
        assert settings.http.token.get_secret_value() == "dir-token-44"

    def test_the_yaml_and_its_files_beat_the_directory(self, tmp_path: Path) -> None:
        """The directory is the last resort: a value or a _file given elsewhere wins."""
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        write(secrets / "notifier_llamacloud__api_key", "llx-dir-key")
        write(secrets / "notifier_http__token", "dir-token-55")
        token = write(tmp_path / "token", "file-token-66")
        env = {"NOTIFIER_SECRETS_DIR": str(secrets)}
        settings = load(
            tmp_path,
            {"llamacloud": {"api_key": "llx-yaml-key"}, "http": {"token_file": str(token)}},
            env,
        )
        assert settings.llamacloud.api_key.get_secret_value() == "llx-yaml-key"
        assert settings.http.token is not None
        assert settings.http.token.get_secret_value() == "file-token-66"

    def test_an_unreadable_secret_names_the_file(self, tmp_path: Path) -> None:
        """A NOTIFIER_ file that is not text: its name, not its bytes."""
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "notifier_llamacloud__api_key").write_bytes(b"\xff\xfe")
        message = error(tmp_path, {}, {"NOTIFIER_SECRETS_DIR": str(secrets)})
        assert message.startswith("notifier_llamacloud__api_key: ")
        assert "not UTF-8" in message


class TestCommandLine:
    def test_check_exits_2_naming_key_and_path(self, tmp_path: Path) -> None:
        """`notifier check` with a missing secret file: exit 2, one line, no traceback."""
        missing = tmp_path / "gone" / "api_key"
        path = config(tmp_path, {"llamacloud": {"api_key_file": str(missing)}})
        result = run_notifier("check", "--config", str(path))
        assert result.returncode == 2
        assert result.stderr == (
            "notifier: invalid configuration:\n"
            f"llamacloud.api_key_file: cannot read {missing}: No such file or directory\n"
        )

    def test_check_accepts_files_and_shows_no_secret(self, tmp_path: Path) -> None:
        """A valid file-based config: `check` is OK and prints none of the file contents."""
        key = write(tmp_path / "key", KEY)
        secret = write(tmp_path / "secret", WEBHOOK_SECRET)
        hook = {"type": "webhook", "url": "http://127.0.0.1:9/", "secret_file": str(secret)}
        data = {"llamacloud": {"api_key_file": str(key)}, "channels": {"hook": hook}}
        path = config(tmp_path, data)
        result = run_notifier("check", "--config", str(path))
        assert result.returncode == 0, result.stderr
        assert "(signed)" in result.stdout
        output = result.stdout + result.stderr
        assert KEY not in output and WEBHOOK_SECRET.removeprefix("whsec_") not in output
