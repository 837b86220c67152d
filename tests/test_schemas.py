"""JSON Schemas: the configuration's (`notifier schema`, config/notifier.schema.json) and the
webhook payload's (docs/payload.schema.json), checked by `jsonschema` against real files and
real deliveries."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker

from notifier.channels.webhook import BatchWebhookChannel
from notifier.config.base import ConfigError
from notifier.config.load import load_settings
from notifier.config.schema import schema_text
from notifier.core.render import webhook_payload
from notifier.core.samples import sample_event
from tests.harness import REPO, DaemonProcess, Receiver, Sim, write_config

CONFIG_SCHEMA = REPO / "config" / "notifier.schema.json"
PAYLOAD_SCHEMA = REPO / "docs" / "payload.schema.json"
EXAMPLE = REPO / "config" / "notifier.example.yaml"
MINIMAL: dict[str, Any] = {
    "llamacloud": {"api_key": "k-123456"},
    "sources": [{"type": "extract_v2"}],
}


def validator(path: Path) -> Draft202012Validator:
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)  # a valid schema in the first place
    return Draft202012Validator(schema, format_checker=FormatChecker())


def problems(check: Draft202012Validator, document: object) -> list[str]:
    return sorted(
        "/".join(str(p) for p in e.absolute_path) or "(root)" for e in check.iter_errors(document)
    )


class TestConfigSchema:
    def test_command_prints_the_copy_in_config(self) -> None:
        """`notifier schema` and config/notifier.schema.json agree byte for byte (regenerate
        with `notifier schema > config/notifier.schema.json`)."""
        result = subprocess.run(
            [sys.executable, "-m", "notifier", "schema"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == schema_text()
        assert CONFIG_SCHEMA.read_text() == result.stdout, "run: notifier schema > " + str(
            CONFIG_SCHEMA.relative_to(REPO)
        )
        assert json.loads(result.stdout)["$schema"].endswith("/draft/2020-12/schema")

    def test_example_names_the_schema_for_editors(self) -> None:
        """yaml-language-server reads its first line and validates the file as one types."""
        first = EXAMPLE.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=./notifier.schema.json"
        assert (EXAMPLE.parent / "notifier.schema.json").is_file()

    def test_example_and_minimal_configs_are_valid(self) -> None:
        """The example (before ${VAR} interpolation, as an editor sees it) has no problems."""
        check = validator(CONFIG_SCHEMA)
        assert problems(check, yaml.safe_load(EXAMPLE.read_text())) == []
        assert problems(check, MINIMAL) == []

    def test_durations_are_described_as_written(self) -> None:
        """`30s`, `1h30m`, `500ms` and seconds as a number are valid; ISO 8601 is not, and
        defaults read as the file writes them."""
        check = validator(CONFIG_SCHEMA)
        schema = json.loads(CONFIG_SCHEMA.read_text())
        interval = schema["$defs"]["PollingConfig"]["properties"]["interval"]
        assert interval["default"] == "30s"
        assert "30s" in json.dumps(interval["anyOf"][0]["examples"])
        for good in ("30s", "15m", "1h30m", "500ms", "3d", "2w", "1.5h", " 10S ", 45):
            config = {**MINIMAL, "polling": {"interval": good}}
            assert problems(check, config) == [], good
            load_settings_of(config)  # the loader agrees
        for bad in ("PT30S", "30 seconds", "soon", "", -5, 0):
            config = {**MINIMAL, "polling": {"interval": bad}}
            assert problems(check, config) == ["polling/interval"], bad
            with pytest.raises(ConfigError):
                load_settings_of(config)

    def test_mistakes_editors_should_flag(self) -> None:
        """Unknown keys, an unknown channel type, a missing key and a bad enum."""
        check = validator(CONFIG_SCHEMA)
        cases: list[tuple[dict[str, Any], str]] = [
            ({**MINIMAL, "polling": {"intervall": "30s"}}, "polling"),
            ({**MINIMAL, "channels": {"x": {"type": "slack", "url": "http://a"}}}, "channels/x"),
            ({"sources": [{"type": "extract_v2"}]}, "(root)"),
            ({**MINIMAL, "sources": [{"type": "extract_v3"}]}, "sources/0/type"),
            ({**MINIMAL, "polling": {"initial_sync": "later"}}, "polling/initial_sync"),
        ]
        for config, where in cases:
            assert where in problems(check, config), config

    def test_secret_file_keys_are_in_the_schema(self) -> None:
        """Editors complete the `_file` siblings of SPEC §9 too."""
        defs = json.loads(CONFIG_SCHEMA.read_text())["$defs"]
        for model, key in (
            ("LlamaCloudConfig", "api_key_file"),
            ("WebhookChannelConfig", "secret_file"),
            ("AppriseChannelConfig", "urls_file"),
            ("HttpConfig", "token_file"),
            ("NativeWebhooksConfig", "secret_file"),
            ("NativeWebhooksConfig", "token_file"),
        ):
            assert key in defs[model]["properties"], (model, key)


def load_settings_of(config: dict[str, Any]) -> object:
    """Validate through the real loader (a file on disk)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        return load_settings(path, {})


class TestPayloadSchema:
    async def test_deliveries_of_every_source_are_valid(
        self, sim: Sim, receiver: Receiver, tmp_path: Path
    ) -> None:
        """`notifier once` against the simulator, every source, first sight and failures:
        each body the receiver verified matches docs/payload.schema.json."""
        agent = "00000000-0000-0000-0000-0000000000bb"
        await sim.create("extract_v2", "FAILED", error_message="bad scan")
        await sim.create("parse_v2", "COMPLETED")
        await sim.create("extraction_v1", "ERROR", extraction_agent_id=agent)
        await sim.create("extract_runs_v1", "CREATED", extraction_agent_id=agent)
        config = write_config(
            tmp_path / "config.yaml",
            sim.url,
            receiver.url,
            polling={"initial_sync": "notify"},
            sources=[
                {"type": "extract_v2"},
                {"type": "parse_v2"},
                {"type": "extraction_v1", "extraction_agent_ids": [agent]},
                {"type": "extract_runs_v1", "extraction_agent_ids": [agent]},
            ],
        )
        daemon = await DaemonProcess(config, tmp_path / "once.log").start("once")
        assert daemon.process is not None
        assert await asyncio.wait_for(daemon.process.wait(), 60) == 0, daemon.log_text()
        sources = {r.payload["data"]["source"] for r in receiver.received}
        assert sources == {"extract_v2", "parse_v2", "extraction_v1", "extract_runs_v1"}
        check = validator(PAYLOAD_SCHEMA)
        described = json.loads(PAYLOAD_SCHEMA.read_text())["$defs"]
        for item in receiver.received:
            assert problems(check, item.payload) == [], item.payload
            # Every field sent is described (the schema allows more, for later versions).
            assert set(item.payload) == set(described["event"]["properties"])
            assert set(item.payload["data"]) == set(described["data"]["properties"])

    async def test_a_batch_is_valid(self, receiver: Receiver) -> None:
        """A `batch: true` channel's body, sent to a loopback receiver."""
        channel = BatchWebhookChannel("batched", receiver.url, secret=receiver.secret)
        events = [
            sample_event(id="evt_0000000000000000000000a1"),
            sample_event(
                id="evt_0000000000000000000000a2",
                type="job.stuck",
                from_status=None,
                to_status="RUNNING",
                phase="running",
                project_id=None,
                job_created_at=None,
            ),
        ]
        try:
            await channel.send_group(events, "grouped")
        finally:
            await channel.close()
        (batch,) = [r.payload for r in receiver.received]
        assert batch["type"] == "batch" and len(batch["events"]) == 2
        assert problems(validator(PAYLOAD_SCHEMA), batch) == []

    def test_a_wrong_payload_fails(self) -> None:
        """The schema is not a formality: a wrong phase and a missing field are caught."""
        check = validator(PAYLOAD_SCHEMA)
        good = webhook_payload(sample_event(), "rule")
        assert problems(check, good) == []
        wrong = json.loads(json.dumps(good))
        wrong["data"]["phase"] = "exploded"
        del wrong["data"]["job_id"]
        assert problems(check, wrong) != []
