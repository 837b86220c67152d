"""settings: the SPEC section 5 schema, interpolation, durations, overrides and error paths."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from notifier.assemble import secret_values
from notifier.config.base import ConfigError
from notifier.config.load import load_settings
from notifier.config.models import Settings
from notifier.core.durations import format_duration, parse_duration

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "notifier.example.yaml"
ENV = {
    "LLAMA_CLOUD_API_KEY": "llx-settings-key-123",
    "SLACK_WEBHOOK_URL": "slack://TokenAAAA/TokenBBBB/TokenCCCC/#ops",
    "ONCALL_MAILTO": "mailto://oncall.bot:p4ssw0rd!@smtp.example.com?to=ops@example.com",
}
MINIMAL = {"llamacloud": {"api_key": "k-123456"}, "sources": [{"type": "extract_v2"}]}


def load(tmp_path: Path, data: object, env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "config.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return load_settings(path, env if env is not None else ENV)


def error(tmp_path: Path, data: object, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, data, env)
    return str(caught.value)


class TestExample:
    def test_example_loads_with_its_variables(self) -> None:
        """The SPEC example is valid and means what it says."""
        settings = load_settings(EXAMPLE, ENV)
        assert [s.type.value for s in settings.sources] == [
            "extract_v2",
            "parse_v2",
            "extraction_v1",
            "extract_runs_v1",
        ]
        assert settings.llamacloud.project_id is None  # ${LLAMA_CLOUD_PROJECT_ID:-} is empty
        assert settings.polling.interval == timedelta(seconds=30)
        assert settings.polling.sweep_every == timedelta(hours=6)
        assert settings.polling.reconcile_every is None
        assert settings.store.retention == timedelta(days=30)
        assert settings.http.listen == "127.0.0.1:8080" and settings.http.port == 8080
        assert settings.llamacloud.timeout == timedelta(seconds=30)
        assert settings.llamacloud.max_requests_per_second == 10
        assert settings.rules[0].notify == ["ops-slack", "oncall-email"]
        assert settings.rules[0].when.status == ["FAILED", "ERROR"]
        assert settings.channels["pipeline"].type == "webhook"

    def test_defaults_of_a_minimal_config(self, tmp_path: Path) -> None:
        """Only the key and one source are required."""
        settings = load(tmp_path, MINIMAL)
        assert settings.polling.initial_sync == "baseline"
        assert settings.rules == [] and settings.channels == {}

    def test_sweep_every_and_its_old_spelling(self, tmp_path: Path) -> None:
        """`reconcile_every` (cycles) is still read, as that many intervals; both is an error."""
        old = load(tmp_path, {**MINIMAL, "polling": {"interval": "10s", "reconcile_every": 30}})
        assert old.polling.sweep_every == timedelta(minutes=5)
        new = load(tmp_path, {**MINIMAL, "polling": {"sweep_every": "2h", "sweep_share": 0.25}})
        assert new.polling.sweep_every == timedelta(hours=2) and new.polling.sweep_share == 0.25
        both = {"sweep_every": "2h", "reconcile_every": 3}
        assert "polling.reconcile_every: give sweep_every" in error(
            tmp_path, {**MINIMAL, "polling": both}
        )
        assert "polling.sweep_share" in error(tmp_path, {**MINIMAL, "polling": {"sweep_share": 2}})


class TestInterpolation:
    def test_default_and_literal(self, tmp_path: Path) -> None:
        """`${VAR:-default}` falls back; `$${` stays literal."""
        data = {
            **MINIMAL,
            "store": {"path": "${DATA_DIR:-/var/lib/n}/n.db"},
            "http": {"listen": "${LISTEN}"},
        }
        settings = load(tmp_path, data, {"LISTEN": "0.0.0.0:9"})
        assert str(settings.store.path) == "/var/lib/n/n.db" and settings.http.port == 9
        data["rules"] = [{"name": "$${literal}", "notify": ["x"]}]
        data["channels"] = {"x": {"type": "webhook", "url": "http://127.0.0.1/"}}
        assert load(tmp_path, data, {"LISTEN": "a:1"}).rules[0].name == "${literal}"

    def test_missing_variable_names_it_and_its_path(self, tmp_path: Path) -> None:
        """An unset variable without default is an error at the field that used it."""
        message = error(
            tmp_path, {**MINIMAL, "channels": {"h": {"type": "webhook", "url": "${HOOK_URL}"}}}, {}
        )
        assert message == "channels.h.url: environment variable HOOK_URL is not set"


class TestErrors:
    def test_unknown_keys_are_named_with_their_path(self, tmp_path: Path) -> None:
        """Typos anywhere are errors, not silently ignored."""
        assert (
            error(tmp_path, {**MINIMAL, "polling": {"intervall": "5s"}})
            == "polling.intervall: unknown key"
        )
        assert error(tmp_path, {**MINIMAL, "extra": 1}) == "extra: unknown key"
        data = {
            **MINIMAL,
            "channels": {"h": {"type": "webhook", "url": "http://x/", "sekret": "a"}},
        }
        assert error(tmp_path, data) == "channels.h.sekret: unknown key"

    def test_unknown_channel(self, tmp_path: Path) -> None:
        """The SPEC's own example of an error line."""
        data = {
            **MINIMAL,
            "channels": {"slack": {"type": "apprise", "urls": ["json://127.0.0.1/"]}},
            "rules": [{"name": "r", "notify": ["slak"]}],
        }
        assert (
            error(tmp_path, data)
            == "rules[0].notify[0]: unknown channel 'slak'; did you mean 'slack'?"
        )

    @pytest.mark.parametrize(
        ("patch", "expected"),
        [
            ({"polling": {"interval": "0s"}}, "polling.interval: duration must be positive"),
            ({"polling": {"lookback": "3 days"}}, "polling.lookback: invalid duration"),
            ({"polling": {"page_size": 500}}, "polling.page_size"),
            ({"polling": {"initial_sync": "all"}}, "polling.initial_sync"),
            (
                {"sources": [{"type": "extraction_v1"}]},
                "sources[0].extraction_agent_ids: required for extraction_v1",
            ),
            (
                {"sources": [{"type": "parse_v2", "statuses": ["THROTTLED"]}]},
                "sources[0].statuses[0]: unknown parse_v2 status",
            ),
            (
                {"sources": [{"type": "extract_v2"}, {"type": "extract_v2"}]},
                "sources[1].name: duplicate source name",
            ),
            ({"sources": []}, "sources:"),
            ({"http": {"listen": "8080"}}, "http.listen: must be HOST:PORT"),
            ({"llamacloud": {"api_key": ""}}, "llamacloud.api_key: must not be empty"),
            ({"llamacloud": {"api_key": "k", "base_url": "api.cloud"}}, "llamacloud.base_url"),
        ],
    )
    def test_invalid_values(self, tmp_path: Path, patch: dict[str, object], expected: str) -> None:
        """Each invalid value is reported at its path."""
        assert expected in error(tmp_path, {**MINIMAL, **patch})

    def test_bad_webhook_secret_is_not_echoed(self, tmp_path: Path) -> None:
        """The message explains the format without showing the value."""
        data = {
            **MINIMAL,
            "channels": {
                "h": {"type": "webhook", "url": "http://x/", "secret": "not base64 ~~ s3cr3t"}
            },
        }
        message = error(tmp_path, data)
        assert message == "channels.h.secret: must be base64, optionally prefixed whsec_"

    def test_no_secret_in_any_error(self, tmp_path: Path) -> None:
        """pydantic's input values never reach the message."""
        data = {
            "llamacloud": {"api_key": "llx-NEVER-SHOW-ME", "timeout": "llx-NEVER-SHOW-ME"},
            "sources": [{"type": "x"}],
        }
        message = error(tmp_path, data)
        assert "llx-NEVER-SHOW-ME" not in message and "sources[0].type" in message

    def test_yaml_problems(self, tmp_path: Path) -> None:
        """Broken YAML names the line; a list at the top is refused; a missing file is an error."""
        assert ", column " in error(tmp_path, "llamacloud:\n  api_key: [unclosed\n")
        assert "top level must be a mapping" in error(tmp_path, "- a\n- b\n")
        with pytest.raises(ConfigError, match="configuration file not found"):
            load_settings(tmp_path / "absent.yaml", {})


class TestEnvironmentOverrides:
    def test_notifier_variables_beat_the_file(self, tmp_path: Path) -> None:
        """NOTIFIER_SECTION__KEY overrides what the YAML says."""
        env = {
            "NOTIFIER_HTTP__LISTEN": "0.0.0.0:9000",
            "NOTIFIER_POLLING__INTERVAL": "5s",
            "NOTIFIER_LLAMACLOUD__API_KEY": "from-env-key",
            "NOTIFIER_STORE__PATH": "/data/n.db",
        }
        settings = load(tmp_path, MINIMAL, env)
        assert settings.http.listen == "0.0.0.0:9000"
        assert settings.polling.interval == timedelta(seconds=5)
        assert settings.llamacloud.api_key.get_secret_value() == "from-env-key"
        assert str(settings.store.path) == "/data/n.db"

    def test_invalid_override_is_named(self, tmp_path: Path) -> None:
        """A bad override is reported like a bad file value."""
        assert "polling.interval" in error(
            tmp_path, MINIMAL, {"NOTIFIER_POLLING__INTERVAL": "never"}
        )

    def test_config_path_from_environment(self, tmp_path: Path) -> None:
        """$NOTIFIER_CONFIG names the file when --config is absent."""
        path = tmp_path / "elsewhere.yaml"
        path.write_text(yaml.safe_dump(MINIMAL))
        assert (
            load_settings(None, {"NOTIFIER_CONFIG": str(path)}).sources[0].type.value
            == "extract_v2"
        )


class TestSecrets:
    def test_secret_values_cover_keys_tokens_and_passwords(self) -> None:
        """The API key, apprise URLs and their tokens and passwords are all registered."""
        values = secret_values(
            load_settings(EXAMPLE, {**ENV, "WEBHOOK_SECRET": "whsec_c2VjcmV0LWtleS1ieXRlcw=="})
        )
        for secret in (
            "llx-settings-key-123",
            "TokenAAAA",
            "TokenBBBB",
            "TokenCCCC",
            "p4ssw0rd!",
            ENV["SLACK_WEBHOOK_URL"],
            "whsec_c2VjcmV0LWtleS1ieXRlcw==",
            "c2VjcmV0LWtleS1ieXRlcw==",
        ):
            assert secret in values
        assert "smtp.example.com" not in values

    def test_places_and_options_in_apprise_urls_are_not_secrets(self, tmp_path: Path) -> None:
        """Addresses and option values stay readable in logs; long lowercase tokens do not."""
        config = tmp_path / "n.yaml"
        config.write_text(
            "llamacloud: {api_key: llx-places-key}\n"
            "sources: [{type: extract_v2}]\n"
            "channels:\n"
            "  many:\n"
            "    type: apprise\n"
            "    urls:\n"
            "      - json://127.0.0.1:18100/hook\n"
            "      - mailtos://bot:s3cretpass@example.com?smtp=localhost&to=a@example.com\n"
            "      - slack://abcdefgh/B0cdefghi/cdefghijklmnopqrstuvwxyz\n"
            "  slack-hook:\n"
            "    type: webhook\n"
            "    url: https://gitlab.example.com/api/v4/projects/2026/LlamaCloud/T0123ABCD/"
            "B0456EFGH/xoxSecretPart99\n"
            "rules: [{name: all, notify: [many, slack-hook]}]\n"
        )
        values = secret_values(load_settings(config, {}))
        # Masked in every log line, these would blank years, ids and words everywhere.
        for plain in ("127.0.0.1", "localhost", "hook", "a@example.com", "2026", "LlamaCloud"):
            assert plain not in values
        for secret in ("s3cretpass", "abcdefgh", "B0cdefghi", "cdefghijklmnopqrstuvwxyz"):
            assert secret in values
        for secret in ("T0123ABCD", "B0456EFGH", "xoxSecretPart99"):  # a webhook's path tokens
            assert secret in values


class TestDurations:
    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("500ms", 0.5),
            ("30s", 30),
            ("15m", 900),
            ("2h", 7200),
            ("3d", 259200),
            ("1w", 604800),
            ("1h30m", 5400),
            (45, 45),
        ],
    )
    def test_parse(self, text: object, seconds: float) -> None:
        """Every documented spelling reads as it should."""
        assert parse_duration(text) == timedelta(seconds=seconds)

    @pytest.mark.parametrize("text", ["", "5", "s", "5x", "-5s", "0s", "1.5.2s", True, None])
    def test_reject(self, text: object) -> None:
        """Unitless, unknown, zero and negative durations are refused."""
        with pytest.raises(ValueError, match="duration"):
            parse_duration(text)

    def test_format_round_trips(self) -> None:
        """The report prints durations the way users write them."""
        for text in ("250ms", "30s", "15m", "3d", "1h30m"):
            assert format_duration(parse_duration(text)) == text


class TestNotificationKeys:
    def test_grouping_templates_and_mutes(self, tmp_path: Path) -> None:
        """Group, repeat, template and mute keys load; templates may come from files."""
        body = tmp_path / "body.j2"
        body.write_text("{{ count }} events")
        data = {
            **MINIMAL,
            "channels": {
                "s": {
                    "type": "apprise",
                    "urls": ["json://127.0.0.1/"],
                    "body_file": str(body),
                    "rate_per_second": 0.5,
                }
            },
            "rules": [
                {
                    "name": "r",
                    "notify": ["s"],
                    "group_by": ["source"],
                    "group_wait": "30s",
                    "repeat_interval": "4h",
                    "title": "{{ rule }}",
                }
            ],
            "mutes": [
                {
                    "name": "nights",
                    "rules": ["r"],
                    "start": "22:00",
                    "end": "07:00",
                    "timezone": "Europe/Berlin",
                    "days": ["Mon", "tue"],
                }
            ],
        }
        settings = load(tmp_path, data)
        assert settings.channels["s"].body == "{{ count }} events"  # type: ignore[union-attr]
        assert settings.rules[0].group_wait == timedelta(seconds=30)
        assert settings.mutes[0].days == ["mon", "tue"]

    @pytest.mark.parametrize(
        ("patch", "expected"),
        [
            (
                {"rules": [{"name": "r", "notify": ["s"], "group_by": ["colour"]}]},
                "rules[0].group_by: cannot group by 'colour'",
            ),
            (
                {"rules": [{"name": "r", "notify": ["s"], "title": "{% if %}"}]},
                "rules[0].title: template error at line 1",
            ),
            (
                {"rules": [{"name": "r", "notify": ["s"], "body_file": "/nonexistent/b.j2"}]},
                "rules[0].body_file: cannot read",
            ),
            (
                {"mutes": [{"name": "m", "rules": ["ghost"]}]},
                "mutes[0].rules[0]: unknown rule 'ghost'",
            ),
            (
                {"mutes": [{"name": "m", "channels": ["s"], "timezone": "Mars/Olympus"}]},
                "mutes[0].timezone: unknown time zone",
            ),
            (
                {"mutes": [{"name": "m", "channels": ["s"], "start": "25:00"}]},
                "mutes[0].start: use HH:MM",
            ),
            ({"mutes": [{"name": "m"}]}, "mutes[0].rules: name at least one rule or channel"),
        ],
    )
    def test_invalid_notification_keys(
        self, tmp_path: Path, patch: dict[str, object], expected: str
    ) -> None:
        """Each mistake is named at its path."""
        data = {
            **MINIMAL,
            "channels": {"s": {"type": "apprise", "urls": ["json://127.0.0.1/"]}},
            **patch,
        }
        assert expected in error(tmp_path, data)


class TestHostileFiles:
    """Whatever the file or NOTIFIER_ variables hold: a ConfigError naming where, nothing else."""

    def test_default_also_when_the_variable_is_empty(self, tmp_path: Path) -> None:
        """`${VAR:-default}` as in the shell and compose: unset or empty both take the default."""
        data = {**MINIMAL, "http": {"listen": "${LISTEN:-127.0.0.1:9}"}}
        assert load(tmp_path, data, {"LISTEN": ""}).http.port == 9
        assert load(tmp_path, data, {"LISTEN": "0.0.0.0:7"}).http.port == 7
        data["http"] = {"listen": "${HOST}127.0.0.1:8"}  # `${VAR}` set but empty stays empty
        assert load(tmp_path, data, {"HOST": ""}).http.port == 8

    def test_merge_keys_and_anchors_are_no_duplicates(self, tmp_path: Path) -> None:
        """`<<: *team` copies keys in; only a key written twice in one mapping is an error."""
        path = tmp_path / "config.yaml"
        path.write_text(
            "llamacloud: {api_key: k}\nsources: [{type: extract_v2}]\nchannels:\n"
            "  hook: {type: webhook, url: 'http://127.0.0.1:9/x',\n"
            "         headers: &team {<<: {X-Base: one, X-Team: base}, X-Team: ops}}\n"
            "  mirror: {type: webhook, url: 'http://127.0.0.1:9/y',\n"
            "           headers: {<<: *team, X-Mirror: 'yes'}}\n"
        )
        mirror = load_settings(path, ENV).channels["mirror"]
        assert mirror.headers == {  # type: ignore[union-attr]
            "X-Base": "one",
            "X-Team": "ops",  # a merge's key overridden in the mapping: no duplicate
            "X-Mirror": "yes",
        }

    def test_a_channel_type_missing_or_unknown_names_the_field(self, tmp_path: Path) -> None:
        """`channels.NAME.type`, not pydantic's "unable to extract tag" wording."""
        data = {
            **MINIMAL,
            "channels": {
                "hook": {"url": "http://127.0.0.1:9/x"},
                "h2": {"type": "smoke", "url": "http://127.0.0.1:9/x"},
            },
        }
        assert sorted(error(tmp_path, data).splitlines()) == [
            "channels.h2.type: must be one of: webhook, apprise",
            "channels.hook.type: required",
        ]

    def test_a_key_given_twice_is_an_error(self, tmp_path: Path) -> None:
        """Two `channels:` sections: YAML would keep the second in silence."""
        path = tmp_path / "config.yaml"
        path.write_text(
            "llamacloud: {api_key: k}\nsources: [{type: extract_v2}]\nchannels: {}\nchannels: {}\n"
        )
        with pytest.raises(ConfigError) as caught:
            load_settings(path, ENV)
        assert str(caught.value) == f"{path}: key 'channels' is given twice at line 4, column 1"

    @pytest.mark.parametrize(
        "text", ["${KEY", "${KEY-default}", "${KEY:?unset}", "a${}b", "${A:-${KEY}}"]
    )
    def test_a_reference_that_is_not_one_is_an_error(self, tmp_path: Path, text: str) -> None:
        """An unclosed or unsupported `${...}` is not kept as literal text (the key itself)."""
        data = {**MINIMAL, "llamacloud": {"api_key": text}}
        with pytest.raises(ConfigError, match=r"^llamacloud\.api_key: a `\$\{` that is not"):
            load(tmp_path, data, {"KEY": "llx-value"})
        data["llamacloud"] = {"api_key": "lit$${KEY}eral"}
        assert load(tmp_path, data, {}).llamacloud.api_key.get_secret_value() == "lit${KEY}eral"
        data["llamacloud"] = {"api_key": "Cost: ${{ job.cost }}"}  # a template's dollar sign
        assert load(tmp_path, data, {}).llamacloud.api_key.get_secret_value().startswith("Cost: $")

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (b"\xff\xfe llamacloud:\n", "not UTF-8 text at line 1, column 1; save it as UTF-8"),
            (
                b"llamacloud:\n  api_key: k\xc3\x28\n",
                "not UTF-8 text at line 2, column 13; save it as UTF-8",
            ),
            (b"\x00\x01binary", "unacceptable character #x0000 at line 1"),
        ],
    )
    def test_bytes_that_are_not_text(self, tmp_path: Path, raw: bytes, expected: str) -> None:
        """Bytes that are not UTF-8 name the file and where, not a UnicodeDecodeError."""
        path = tmp_path / "config.yaml"
        path.write_bytes(raw)
        with pytest.raises(ConfigError) as caught:
            load_settings(path, ENV)
        assert str(caught.value) == f"{path}: {expected}"

    def test_utf16_and_utf8_bom_files_load(self, tmp_path: Path) -> None:
        """What Windows editors save (UTF-16 or UTF-8 with a byte order mark) is read as such."""
        path = tmp_path / "config.yaml"
        for encoding in ("utf-16", "utf-8-sig"):
            path.write_bytes(yaml.safe_dump(MINIMAL).encode(encoding))
            assert load_settings(path, {}).sources[0].type.value == "extract_v2"

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1: foo\n", "1: keys must be strings"),
            ("~: foo\n", "null: keys must be strings"),
            ("2026-01-01: foo\n", "2026-01-01: keys must be strings"),
            ("channels: {h: {type: webhook, url: 'http://x/', 3: x}}\n", "channels.h.3: keys"),
            ("rules: [{name: r, notify: [h], when: {on: [x]}}]\n", "rules[0].when.true: keys"),
        ],
    )
    def test_keys_that_are_not_strings(self, tmp_path: Path, text: str, expected: str) -> None:
        """A number, null, date or `on` as a key is named at its path (was a TypeError at top)."""
        base = "llamacloud: {api_key: k-123456}\nsources: [{type: extract_v2}]\n"
        assert expected in error(tmp_path, base + text)

    @pytest.mark.parametrize(
        "value", ["1000000000d", "99999999999999d", "3651d", "522w", "9" * 400 + "ms", ".inf"]
    )
    def test_durations_too_long(self, tmp_path: Path, value: str) -> None:
        """Past ten years a duration is refused at its path (was an OverflowError)."""
        text = "llamacloud: {api_key: k-1}\nsources: [{type: parse_v2}]\npolling:\n"
        message = error(tmp_path, text + f"  interval: {value}\n")
        assert message == "polling.interval: duration too long: at most 3650d (10 years)"

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (float("inf"), "too long"),
            (10**400, "too long"),
            ("3651d", "too long"),
            (float("nan"), "expected a duration"),
            (float("-inf"), "positive"),
            (-(10**400), "positive"),
        ],
    )
    def test_parse_duration_bounds(self, value: object, message: str) -> None:
        """ValueError, never OverflowError; ten years is still fine."""
        with pytest.raises(ValueError, match=message):
            parse_duration(value)
        assert parse_duration("3650d") == timedelta(days=3650)

    def test_nesting_past_what_yaml_can_read(self, tmp_path: Path) -> None:
        """5,000 levels of `[` are an error naming the file (was a RecursionError)."""
        path = tmp_path / "config.yaml"
        message = error(tmp_path, "llamacloud: " + "[" * 5000 + "]" * 5000 + "\n")
        assert message == f"{path}: nested too deeply to read"
        message = error(tmp_path, "x: " + "[" * 60 + "]" * 60 + "\n")
        assert message == "x" + "[0]" * 49 + ": nested more than 50 levels deep"

    @pytest.mark.parametrize(
        "text",
        [
            "x: &a [*a]\n",
            "x: &a {y: *a}\n",
            "".join(  # "billion laughs": 9 ** 9 strings from a few hundred bytes
                f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else 'lol'}]\n"
                for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
            ),
        ],
    )
    def test_alias_bombs_stop_at_once(self, tmp_path: Path, text: str) -> None:
        """Recursive or exponential aliases are refused quickly (were a hang or RecursionError)."""
        message = error(tmp_path, text)
        assert "nested more than 50 levels deep" in message or "more than 100000 values" in message

    @pytest.mark.parametrize(
        ("value", "kind"),
        [
            ("2026-13-45", "timestamp"),
            ("!!bool maybe", "bool"),
            ("!!int ''", "int"),
            ("!!timestamp abc", "timestamp"),
            ("9" * 5000, "int"),
        ],
    )
    def test_scalars_yaml_cannot_build(self, tmp_path: Path, value: str, kind: str) -> None:
        """A date that does not exist or a tag that does not fit is a YAML error with its line."""
        message = error(tmp_path, f"llamacloud: {{api_key: k-1}}\nx: {value}\n")
        assert message.endswith(
            f": cannot read this {kind} (quote it if it is text) at line 2, column 4"
        )

    def test_keys_pydantic_settings_would_take_as_options(self, tmp_path: Path) -> None:
        """`_cli_parse_args` and friends are unknown keys, not BaseSettings options."""
        for key in ("_cli_parse_args: true", "_env_prefix: X_", "_secrets_dir: /nonexistent"):
            message = error(tmp_path, {**MINIMAL, **yaml.safe_load(key)})
            assert message == f"{key.partition(':')[0]}: unknown key"

    @pytest.mark.parametrize(
        ("name", "value", "expected"),
        [
            (
                "NOTIFIER_SOURCES",
                '[{"type": "extract_v2", s3cr3t',
                "NOTIFIER_SOURCES: not valid JSON",
            ),
            ("notifier_polling", "{s3cr3t", "notifier_polling: not valid JSON"),
            (
                "NOTIFIER_CHANNELS__H__HEADERS",
                "{s3cr3t",
                "NOTIFIER_CHANNELS__H__HEADERS: not valid",
            ),
            ("NOTIFIER_RULES", "[" * 100_000, "NOTIFIER_RULES: JSON nested too deeply"),
        ],
    )
    def test_environment_json_that_does_not_parse(
        self, tmp_path: Path, name: str, value: str, expected: str
    ) -> None:
        """The variable is named, its value is not shown (was a pydantic-settings SettingsError)."""
        data = {**MINIMAL, "channels": {"h": {"type": "webhook", "url": "http://x/"}}}
        message = error(tmp_path, data, {name: value})
        assert message.startswith(expected) and "s3cr3t" not in message

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("polling: {reconcile_every: 0x" + "f" * 5000 + "}", "polling.reconcile_every: Input"),
            ("delivery: {concurrency: 10000000}", "delivery.concurrency: Input"),
            ("llamacloud: {api_key: k, max_requests_per_second: .inf}", "finite number"),
            ("http: {listen: 'a:²'}", "http.listen: must be HOST:PORT"),
            ("http: {listen: 'a:" + "9" * 5000 + "'}", "http.listen: must be HOST:PORT"),
            ("store: {path: ''}", "store.path: must not be empty"),
            ('store: {path: "a\\0b"}', "store.path: must not contain a NUL"),
            (
                "llamacloud: {api_key: k, base_url: 'https://h:99999'}",
                "base_url: has an invalid port",
            ),
            (
                "channels: {h: {type: webhook, url: 'http://x/', headers: {'a b': c}}}",
                "channels.h.headers: header name 'a b' is not a valid HTTP header name",
            ),
            (
                "channels: {h: {type: webhook, url: 'http://x/', headers: {A: \"b\\nc\"}}}",
                "channels.h.headers.A: header value must be one line",
            ),
            (
                "channels: {h: {type: apprise, urls: ['json://x/'], body_file: \"a\\0b\"}}",
                "channels.h.body_file: must not contain a NUL character",
            ),
            (
                "rules: [{name: r, notify: [x], when: {error_message: ['a{99999999999}']}}]",
                "rules[0].when.error_message[0]: invalid regex: too complex",
            ),
            (
                "rules: [{name: r, notify: [x], when: {error_message: ['"
                + "(" * 5000
                + ")" * 5000
                + "']}}]",
                "rules[0].when.error_message[0]: invalid regex: too complex",
            ),
            (
                "rules: [{name: r, notify: [x], title: '{{ "
                + "(" * 5000
                + "1"
                + ")" * 5000
                + " }}'}]",
                "rules[0].title: template error: nested too deeply",
            ),
            (
                "mutes: [{name: m, rules: [r], timezone: America}]",
                "mutes[0].timezone: unknown time zone 'America'",
            ),
            ("mutes: [{name: m, rules: [r], start: '²:00'}]", "mutes[0].start: use HH:MM"),
        ],
    )
    def test_values_that_used_to_escape_as_other_errors(
        self, tmp_path: Path, text: str, expected: str
    ) -> None:
        """Each was an OverflowError, RecursionError, OSError, a raw ValueError text, or passed
        validation only to fail later in `check` or `once`."""
        key = "" if text.startswith("llamacloud:") else "llamacloud: {api_key: k-123456}\n"
        base = key + "sources: [{type: extract_v2}]\n"
        assert expected in error(tmp_path, base + text + "\n")

    def test_template_file_that_is_not_text(self, tmp_path: Path) -> None:
        """A binary or endless body_file is named, not decoded or read into memory whole."""
        body = tmp_path / "body.j2"
        body.write_bytes(b"\xff\xfe{{ x }}")
        data = {
            **MINIMAL,
            "channels": {"h": {"type": "apprise", "urls": ["json://x/"], "body_file": str(body)}},
        }
        assert error(tmp_path, data) == f"channels.h.body_file: {body} is not UTF-8 text"
        data["channels"]["h"]["body_file"] = "/dev/zero"  # type: ignore[index]
        assert error(tmp_path, data) == "channels.h.body_file: /dev/zero is larger than 1 MiB"
