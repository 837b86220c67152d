"""JSON Schemas: the configuration's (`notifier schema`, config/notifier.schema.json) and the
webhook payload's (docs/payload.schema.json: events, batches and the notices), checked by
`jsonschema` against real files and real deliveries."""

from __future__ import annotations

import asyncio
import json
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker

from notifier.channels.webhook import BatchWebhookChannel
from notifier.config.base import ConfigError
from notifier.config.load import load_settings
from notifier.config.schema import schema_text
from notifier.core.diff import STUCK
from notifier.core.digest import DigestWindow, Tally, build_digest
from notifier.core.models import Event
from notifier.core.render import webhook_payload
from notifier.core.samples import sample_event
from notifier.core.timestamps import format_ts
from notifier.core.watchdog import ChannelFact, Kind, SourceFact, WatchdogSpec, decide, troubles
from notifier.daemon import Daemon
from notifier.notices.watchdog import RULE as WATCHDOG_RULE
from notifier.simulator import start_simulator
from notifier.simulator.app import Fault
from tests.harness import (
    API_KEY,
    REPO,
    WEBHOOK_SECRET,
    DaemonProcess,
    Receiver,
    Sim,
    run_notifier,
    write_config,
)
from tests.test_digests import berlin, job_event, record
from tests.test_watchdog import NOW, facts, run_for
from tests.test_watchdog import write as watchdog_config

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


def branch(name: str) -> Draft202012Validator:
    """docs/payload.schema.json narrowed to one shape of its `oneOf` (`digest`, `trouble`...),
    so a wrong document's errors name the field at fault instead of just "(root)"."""
    schema = json.loads(PAYLOAD_SCHEMA.read_text())
    del schema["oneOf"]
    schema["$ref"] = f"#/$defs/{name}"
    return Draft202012Validator(schema, format_checker=FormatChecker())


def described(name: str) -> set[str]:
    """The properties the schema describes for `$defs/name`."""
    return set(json.loads(PAYLOAD_SCHEMA.read_text())["$defs"][name]["properties"])


# The shape of each notice type: its `$defs` branch and the `$defs` of its `data`.
NOTICE_SHAPES = {
    "digest": ("digest", "digest_data"),
    "notifier.trouble": ("trouble", "trouble_data"),
    "notifier.resolved": ("resolved", "resolved_data"),
}


def assert_valid_notice(payload: dict[str, Any]) -> None:
    """Valid against the whole schema and its own branch, and every field it carries is
    described there (the schema allows more, for later versions)."""
    shape, data = NOTICE_SHAPES[payload["type"]]
    assert problems(validator(PAYLOAD_SCHEMA), payload) == [], payload
    assert problems(branch(shape), payload) == [], payload
    assert set(payload) == described(shape)
    assert set(payload["data"]) == described(data), payload["data"]


class TestConfigSchema:
    def test_command_prints_the_copy_in_config(self) -> None:
        """`notifier schema` and config/notifier.schema.json agree byte for byte (regenerate
        with `notifier schema > config/notifier.schema.json`)."""
        result = run_notifier("schema")
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


def digest_settings(tmp_path: Path, sim_url: str, plain: str, batched: str) -> Path:
    """A digest rule at 09:00 Berlin to a plain webhook channel and a `batch: true` one."""
    data = {
        "llamacloud": {"api_key": API_KEY, "base_url": sim_url},
        "store": {"path": str(tmp_path / "n.db")},
        "polling": {"interval": "1h"},
        "sources": [{"type": "extract_v2"}, {"type": "parse_v2"}],
        "channels": {
            "hook": {"type": "webhook", "url": plain, "secret": WEBHOOK_SECRET},
            "batched": {"type": "webhook", "url": batched, "secret": WEBHOOK_SECRET, "batch": True},
        },
        "rules": [
            {
                "name": "daily",
                "notify": ["hook", "batched"],
                "digest": {"schedule": "0 9 * * *", "timezone": "Europe/Berlin", "top_errors": 2},
            }
        ],
        "delivery": {"backoff_base": "100ms"},
        "http": {"enabled": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def window_events() -> list[Event]:
    """A day of every kind a digest counts: phases, a stay, repeated errors, no project."""
    return [
        job_event(1, berlin(22, 10)),
        job_event(2, berlin(22, 11), "FAILED", error="quota  exceeded\n"),
        job_event(3, berlin(22, 12), "FAILED", error="quota exceeded", source="parse_v2"),
        job_event(4, berlin(22, 13), "FAILED", error="x" * 300, project_id=None),
        job_event(5, berlin(22, 14), "RUNNING", type=STUCK),
        job_event(6, berlin(22, 15), "THROTTLED"),
        job_event(7, berlin(22, 16), "SOMETHING_NEW", source="parse_v2"),
    ]


class TestNoticeSchema:
    async def test_a_delivered_digest_is_valid(self, sim: Sim, tmp_path: Path) -> None:
        """A digest at its cron time (a faked clock), through the outbox to two loopback
        receivers: valid, and on a `batch: true` channel too it arrives alone, not in a
        batch (notices are never grouped)."""
        plain, batched = await Receiver().start(), await Receiver().start()
        settings = load_settings(digest_settings(tmp_path, sim.url, plain.url, batched.url), {})
        now = [berlin(22, 8)]
        daemon = Daemon(settings, clock=lambda: now[0])
        try:
            assert await daemon.digests.safe_tick() == 0  # first sight: the window begins
            record(daemon, window_events())
            now[0] = berlin(23, 9, 0, 30)
            assert await daemon.digests.safe_tick() == 2  # one digest, two channels
            await daemon.worker.drain()
            await plain.wait_for(lambda: len(plain.received) == 1)
            await batched.wait_for(lambda: len(batched.received) == 1)
        finally:
            await daemon.close()
            await plain.stop()
            await batched.stop()
        (digest,), (alone,) = plain.received, batched.received
        assert alone.payload == digest.payload and alone.payload["type"] == "digest"
        assert digest.webhook_id == digest.payload["id"]
        assert digest.payload["timestamp"] == digest.payload["data"]["window_end"]
        assert_valid_notice(digest.payload)
        data = digest.payload["data"]
        assert data["events"] == 7 and data["rule"] == "daily"
        assert set(data["counts"]) == {
            "completed",
            "failed",
            "stuck",
            "throttled",
            "other",
        }
        assert data["top_errors"][0] == {"message": "quota exceeded", "count": 2}
        assert len(data["top_errors"][1]["message"]) == 200
        assert set(data["by_source"]) == {"extract_v2", "parse_v2"}
        assert "(none)" in data["by_project"]

    async def test_a_trouble_and_its_resolution_are_valid(self, tmp_path: Path) -> None:
        """The running daemon against the simulator answering 402: the watchdog's trouble,
        then its resolution once LlamaCloud answers again, both as the receiver got them."""
        alerts, hook = await Receiver().start(), await Receiver().start()
        runner, sim_url, sim = await start_simulator(api_key=API_KEY)
        sim.faults.append(Fault("status", status=402))
        settings = watchdog_config(tmp_path, sim_url, alerts.url, hook.url)
        try:
            await run_for(settings, lambda: len(alerts.received) >= 1)
            sim.faults.clear()
            await run_for(settings, lambda: len(alerts.received) >= 2)
        finally:
            await alerts.stop()
            await hook.stop()
            await runner.cleanup()
        assert not alerts.bad
        trouble, resolved = (r.payload for r in alerts.received[:2])
        assert (trouble["type"], resolved["type"]) == ("notifier.trouble", "notifier.resolved")
        for item in alerts.received[:2]:
            assert item.webhook_id == item.payload["id"]
            assert_valid_notice(item.payload)
        assert trouble["data"]["kind"] == resolved["data"]["kind"] == "source_failing"
        assert "out of credits (HTTP 402)" in trouble["data"]["summary"]
        assert resolved["data"]["trouble_id"] == trouble["id"]
        # The resolution's `since` is the announcement's time, to the microsecond.
        assert resolved["data"]["since"][:23] + "Z" == trouble["timestamp"]
        assert resolved["data"]["rule"] == trouble["data"]["rule"] == WATCHDOG_RULE

    def test_every_kind_of_trouble_and_an_empty_digest_are_valid(self) -> None:
        """Each `Kind` announced and resolved (core.watchdog, as the daemon builds them), and
        a `send_empty` digest of a window without events (`counts` is {})."""
        spec = WatchdogSpec(channels=("alerts",), source_failing_for=timedelta(minutes=10))
        current, unknown = troubles(
            facts(
                sources=[SourceFact("extract_v2/prj-1", None, "GET /api/v2/extract: HTTP 402")],
                channels={"alerts": ChannelFact(NOW - timedelta(minutes=1), "answered HTTP 410")},
                outbox_oldest={"alerts": NOW - timedelta(hours=1)},
                store_error_at=NOW - timedelta(minutes=1),
                store_error="OperationalError: database or disk is full",
            ),
            spec,
        )
        announced = decide({}, current, unknown, spec, NOW)
        assert {d.opened.kind for d in announced if d.opened} == {k.value for k in Kind}
        opened = {d.key: d.opened for d in announced if d.opened is not None}
        resolved = decide(opened, {}, set(), spec, NOW + timedelta(minutes=30))
        notices = [d.notice for d in announced + resolved if d.notice is not None]
        assert len(notices) == 2 * len(Kind)
        for notice in notices:
            assert_valid_notice(webhook_payload(notice, WATCHDOG_RULE))
        window = DigestWindow("d", format_ts(berlin(22, 9)), format_ts(berlin(23, 9)), "UTC")
        empty = build_digest(window, Tally(), send_empty=True)
        assert empty is not None
        payload = webhook_payload(empty, "d")
        assert payload["data"]["counts"] == {} and payload["data"]["top_errors"] == []
        assert_valid_notice(payload)

    def test_a_wrong_notice_fails(self) -> None:
        """A wrong type, a missing required field, a foreign id, a wrong status or kind: each
        is rejected by the schema and by its own branch, which names the field."""
        tally = Tally()
        for event in window_events():
            tally.add(event)
        window = DigestWindow("d", format_ts(berlin(22, 9)), format_ts(berlin(23, 9)), "UTC")
        digest = build_digest(window, tally)
        assert digest is not None
        spec = WatchdogSpec(channels=("alerts",), source_failing_for=timedelta(minutes=10))
        current, unknown = troubles(facts(sources=[SourceFact("x", None, "HTTP 500")]), spec)
        (announced,) = decide({}, current, unknown, spec, NOW)
        assert announced.notice is not None and announced.opened is not None
        (ended,) = decide({announced.key: announced.opened}, {}, set(), spec, NOW)
        assert ended.notice is not None
        good = {
            "digest": webhook_payload(digest, "d"),
            "trouble": webhook_payload(announced.notice, WATCHDOG_RULE),
            "resolved": webhook_payload(ended.notice, WATCHDOG_RULE),
        }
        check = validator(PAYLOAD_SCHEMA)
        for payload in good.values():
            assert problems(check, payload) == []

        def changed(shape: str, path: str, value: object = None) -> dict[str, Any]:
            """A copy of a good payload with `path` (`a/b`) set to `value`, or removed."""
            copy: dict[str, Any] = json.loads(json.dumps(good[shape]))
            *parents, last = path.split("/")
            target = copy
            for key in parents:
                target = target[key]
            if value is None:
                del target[last]
            else:
                target[last] = value
            return copy

        cases = [
            ("digest", changed("digest", "type", "digests"), ["type"]),
            ("digest", changed("digest", "data/window_end"), ["data"]),
            ("digest", changed("digest", "data/counts/failed", 0), ["data/counts/failed"]),
            ("digest", changed("digest", "id", "wdg_" + "0" * 24), ["id"]),
            ("trouble", changed("trouble", "type", "notifier.alert"), ["type"]),
            ("trouble", changed("trouble", "data/kind", "disk_full"), ["data/kind"]),
            ("trouble", changed("trouble", "data/status", "resolved"), ["data/status"]),
            ("trouble", changed("trouble", "data/since", "2026-11-23"), ["data/since"]),
            ("resolved", changed("resolved", "data/trouble_id"), ["data"]),
            ("resolved", changed("resolved", "timestamp"), ["(root)"]),
            # A resolution sent as a trouble: its status (and trouble_id) give it away.
            ("trouble", changed("resolved", "type", "notifier.trouble"), ["data/status", "id"]),
        ]
        for shape, wrong, where in cases:
            assert problems(check, wrong) != [], wrong
            assert problems(branch(shape), wrong) == where, wrong
        # A batch holds events only: a notice never travels in one.
        batch = {
            "type": "batch",
            "id": "bat_" + "0" * 24,
            "timestamp": good["digest"]["timestamp"],
            "events": [good["digest"]],
        }
        assert problems(check, batch) != []
        assert problems(branch("batch"), batch) != []
