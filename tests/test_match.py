"""`when.match`: JMESPath over the event and its raw job, checked by `check`, never fatal."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from notifier.config.load import load_settings
from notifier.core.match import MatchFailed, MatchSyntaxError, compile_match, match_document
from notifier.core.models import Route
from notifier.core.rules import MatchFailure, Rule, When, route
from notifier.core.samples import sample_event
from notifier.daemon import Daemon
from notifier.simulator import start_simulator
from tests.harness import API_KEY, Receiver, Sim, run_notifier

EXTRACT = {
    "id": "ext-1",
    "status": "COMPLETED",
    "configuration_id": "cfg-invoices-7",
    "extract_result": {"invoice_total": None, "vendor": "ACME"},
    "metadata": {"usage": {"num_pages_extracted": 0}},
}
PARSE = {"id": "pjb-1", "status": "COMPLETED", "usage": {"credits": 240.5}}


def matches(expression: str, **fields: Any) -> bool:
    return compile_match(expression)(match_document(sample_event(**fields)))


class TestExpressions:
    def test_the_examples_of_the_readme(self) -> None:
        """Required field null, usage over a threshold, a configuration id prefix."""
        done = {"to_status": "COMPLETED", "job": EXTRACT, "configuration_id": "cfg-invoices-7"}
        assert matches(
            "to_status == 'COMPLETED' && job.extract_result != `null` "
            "&& job.extract_result.invoice_total == `null`",
            **done,
        )
        assert not matches("job.extract_result.vendor == `null`", **done)
        assert matches("job.metadata.usage.num_pages_extracted == `0`", **done)
        assert matches("starts_with(configuration_id || '', 'cfg-invoices-')", **done)
        assert not matches("starts_with(configuration_id || '', 'cfg-hr-')", **done)
        parse = {"source": "parse_v2", "to_status": "COMPLETED", "job": PARSE}
        assert matches("source == 'parse_v2' && job.usage.credits > `200`", **parse)
        assert not matches("job.usage.credits > `500`", **parse)

    def test_jmespath_truth(self) -> None:
        """null, false and empty are false; a number, even 0, is true (JMESPath's rule)."""
        assert not matches("job.missing")
        assert not matches("`[]`") and not matches("''") and not matches("`false`")
        assert matches("`0`") and matches("job")

    def test_a_runtime_type_error_is_match_failed(self) -> None:
        with pytest.raises(MatchFailed, match="starts_with"):
            matches("starts_with(job.missing, 'x')")

    @pytest.mark.parametrize(
        ("expression", "position", "message"),
        [
            ("to_status ~ 'x'", 10, "Unknown token ~"),
            ("to_status == ", 13, "incomplete expression"),
            ("to_status == 'A' b", 17, "unexpected 'b'"),
            ("source == 'x' && start_with(job.id, 'a')", 17, "did you mean starts_with?"),
            ("starts_with(job.id)", 0, "starts_with() takes 2 arguments, 1 given"),
            ("length(`1`) > `0`", 0, "length() argument 1 must be string or array or object"),
            ("   ", 0, "empty expression"),
        ],
    )
    def test_errors_found_before_any_event_name_their_position(
        self, expression: str, position: int, message: str
    ) -> None:
        with pytest.raises(MatchSyntaxError) as caught:
            compile_match(expression)
        assert caught.value.position == position
        assert message in str(caught.value)
        assert str(caught.value).startswith(f"at character {position + 1}: ")


class TestRouting:
    def test_a_failing_rule_is_skipped_and_reported_others_still_route(self) -> None:
        """The failure is recorded for the caller to log; the next rule still gets the event."""
        rules = [
            Rule("fragile", When(match=compile_match("starts_with(job.nope, 'x')")), ("a",)),
            Rule("fine", When(match=compile_match("to_status == 'FAILED'")), ("b",)),
        ]
        event = sample_event()
        failures: list[MatchFailure] = []
        assert route(event, rules, failures) == [Route("fine", "b")]
        assert [(f.rule, f.event_id) for f in failures] == [("fragile", event.id)]
        assert route(event, rules) == [Route("fine", "b")]  # without a list: silently skipped

    def test_match_is_anded_with_the_other_keys_and_works_under_not(self) -> None:
        when = When(
            status=frozenset(["FAILED"]),
            negated=When(match=compile_match("contains(error_message, 'test')")),
        )
        assert not when.matches(sample_event())  # the sample's error says "test message"
        assert when.matches(sample_event(error_message="quota exceeded"))


def write(tmp_path: Path, rules: list[dict[str, Any]], **extra: Any) -> Path:
    path = tmp_path / "config.yaml"
    data = {
        "llamacloud": {"api_key": "k-123456", **extra.pop("llamacloud", {})},
        "store": {"path": str(tmp_path / "n.db")},
        "sources": [{"type": "extract_v2"}],
        "channels": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/in"}},
        "rules": rules,
        **extra,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return run_notifier("check", "--config", str(path))


class TestCheck:
    def test_a_bad_expression_exits_2_naming_the_rule_key_and_position(
        self, tmp_path: Path
    ) -> None:
        rules: list[dict[str, Any]] = [
            {"name": "ok", "notify": ["hook"]},
            {"name": "bad", "when": {"match": "to_status == 'A' &&"}, "notify": ["hook"]},
        ]
        result = check(write(tmp_path, rules))
        assert result.returncode == 2
        assert "rules[1].when.match: at character 20: incomplete expression" in result.stderr, (
            result.stderr
        )
        assert "Traceback" not in result.stderr

    def test_an_unknown_function_under_not_is_named_too(self, tmp_path: Path) -> None:
        rules: list[dict[str, Any]] = [
            {"name": "r", "when": {"not": {"match": "lenght(job) > `1`"}}, "notify": ["hook"]}
        ]
        result = check(write(tmp_path, rules))
        assert result.returncode == 2
        assert "rules[0].when.not.match: at character 1: unknown function lenght()" in (
            result.stderr
        )

    def test_a_valid_expression_is_printed(self, tmp_path: Path) -> None:
        rules = [{"name": "r", "when": {"match": "job.usage.credits > `100`"}, "notify": ["hook"]}]
        result = check(write(tmp_path, rules))
        assert result.returncode == 0, result.stderr
        assert "r: match `job.usage.credits > `100`` -> hook" in result.stdout


async def test_a_failing_rule_is_logged_and_the_daemon_delivers_the_rest(tmp_path: Path) -> None:
    """Through a real cycle against the simulator: the rule that raises for an event is a
    warning, the event still reaches the receiver by the next rule, and polling goes on."""
    receiver = await Receiver().start()
    sim_runner, sim_url, _ = await start_simulator(api_key=API_KEY, rate=0.0)
    rules = [
        {"name": "fragile", "when": {"match": "starts_with(job.nope, 'x')"}, "notify": ["hook"]},
        {"name": "failed", "when": {"match": "to_status == 'FAILED'"}, "notify": ["hook"]},
    ]
    path = write(
        tmp_path,
        rules,
        llamacloud={"base_url": sim_url, "api_key": API_KEY, "max_requests_per_second": 100},
        polling={"initial_sync": "notify", "interval": "1s"},
        http={"enabled": False},
    )
    config = yaml.safe_load(path.read_text())
    config["channels"]["hook"] = {
        "type": "webhook",
        "url": receiver.url,
        "secret": receiver.secret,
    }
    path.write_text(yaml.safe_dump(config))
    import aiohttp

    async with aiohttp.ClientSession() as session:
        job_id = await Sim(sim_url, session).create("extract_v2", status="FAILED")
    try:
        with capture_logs() as logs:
            results = await Daemon(load_settings(path, {})).once()
        assert all(r is not None for r in results)
        await receiver.wait_for(lambda: len(receiver.received) == 1)
        data = receiver.received[0].payload["data"]
        assert (data["job_id"], data["rule"]) == (job_id, "failed")
        failed = [entry for entry in logs if entry["event"] == "match_failed"]
        assert len(failed) == 1 and failed[0]["rule"] == "fragile"
        assert failed[0]["events"] == 1 and "starts_with" in failed[0]["error"]
        json.dumps(failed[0])  # loggable as a JSON line
    finally:
        await receiver.stop()
        await sim_runner.cleanup()
        await asyncio.sleep(0)
