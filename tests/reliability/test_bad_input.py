"""Bad input, generated: API items and whole responses, and broken configurations.

A cycle never crashes: bad items are skipped with a warning naming them, good items of the
same page still count, unreadable responses are retried and reported as API errors. Every
broken configuration is a ConfigError (exit 2), never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import uuid
from collections.abc import MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from notifier.config.base import ConfigError
from notifier.config.load import load_settings
from notifier.core.rules import Rule, When
from notifier.llamacloud.client import ApiError, LlamaCloudClient
from notifier.llamacloud.parsing import MAX_ID_LENGTH, MalformedResponse
from notifier.polling.poller import Poller, PollOptions, PollTarget
from notifier.store.db import Store
from tests.harness import REPO, serve

TARGET = PollTarget(name="extract_v2", source="extract_v2", scope="")
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=15,
)
timestamps = st.one_of(
    st.just("2026-11-23T10:00:00Z"),
    st.just("0000-00-00T99:99"),
    st.just("9999-12-31T23:59:59.999999+14:00"),
    st.text(max_size=30),
    st.integers(),
)
bad_items = (
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.text(max_size=20), st.integers(), st.none(), st.just("x" * 10_000)),
            "status": st.one_of(
                st.sampled_from(["PENDING", "RUNNING", "FAILED", "WEIRD", ""]),
                st.integers(),
                st.none(),
            ),
            "created_at": timestamps,
            "updated_at": timestamps,
            "project_id": json_values,
            "error_message": st.one_of(st.text(max_size=200), st.just("é" * 50_000), json_values),
        },
    )
    | json_values
)
good_items = st.builds(
    lambda n, status: {
        "id": f"ext-good-{n}",
        "status": status,
        "created_at": "2026-11-23T10:00:00Z",
    },
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from(["PENDING", "RUNNING", "COMPLETED", "MYSTERY"]),
)


async def _poll_once(tmp: Path, body: bytes) -> tuple[Any, list[MutableMapping[str, Any]], Store]:
    async def handle(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner, url = await serve(app)
    # Not random.random(): hypothesis seeds it alike for every example, which shared one file.
    store = Store(tmp / f"n{uuid.uuid4().hex}.db")
    outcome: Any

    async def no_wait(_: float) -> None:
        return None

    try:
        async with LlamaCloudClient(url, "k", max_retries=1, sleep=no_wait) as client:
            poller = Poller(
                client,
                store,
                [Rule("all", When(), ("hook",))],
                PollOptions(initial_sync="notify"),
                clock=lambda: datetime.now(UTC),
            )
            with capture_logs() as logs:
                try:
                    outcome = await poller.poll(TARGET)
                except (ApiError, MalformedResponse) as exc:
                    outcome = exc
    finally:
        await runner.cleanup()
    return outcome, logs, store


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(good_items, max_size=5, unique_by=lambda i: i["id"]),
    st.lists(bad_items, max_size=6),
    st.randoms(),
)
def test_bad_items_never_spoil_the_page(
    tmp_path: Path, good: list[dict[str, Any]], bad: list[Any], rnd: random.Random
) -> None:
    """Good items count, bad ones are skipped by name, the cycle completes."""
    items = good + [
        b for b in bad if not (isinstance(b, dict) and str(b.get("id", "")).startswith("ext-good-"))
    ]
    rnd.shuffle(items)
    body = json.dumps({"items": items, "next_page_token": None}).encode()
    outcome, logs, store = asyncio.run(_poll_once(tmp_path, body))
    assert not isinstance(outcome, Exception), outcome
    recorded = store.load_rows("extract_v2", [g["id"] for g in good])
    assert set(recorded) == {g["id"] for g in good}
    skipped = [entry for entry in logs if entry["event"] == "skipped_item"]
    assert all(entry["source"] == "extract_v2" for entry in skipped)
    valid_ids = {g["id"] for g in good} | {
        b["id"]
        for b in items
        if isinstance(b, dict)
        and isinstance(b.get("id"), str)
        and b["id"].strip()
        and len(b["id"]) <= MAX_ID_LENGTH
        and isinstance(b.get("status"), str)
        and b["status"]
    }
    assert outcome.observed == len(valid_ids)
    store.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(
            st.sampled_from(["items", "next_page_token", "total_size"]), json_values
        ).map(lambda v: json.dumps(v).encode()),
        st.just(b'\xff\xfe{"items": []}'),
        st.just(b'{"items": [{"id": "a", "status": "PENDING"}], "next_page_token": "'),
    )
)
def test_whole_responses_never_crash_a_cycle(tmp_path: Path, body: bytes) -> None:
    """Any body: the cycle completes or fails with an API error, never anything else."""
    outcome, _, store = asyncio.run(_poll_once(tmp_path, body))
    assert outcome is not None
    assert not isinstance(outcome, Exception) or isinstance(outcome, ApiError | MalformedResponse)
    store.close()


config_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.sampled_from([2**63, 10**400, -(10**40)])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.dates()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "30s",
            "-1s",
            "0s",
            "3d",
            "1000000000d",
            "99999999999999d",
            "9" * 400 + "ms",
            "${MISSING}",
            "${X:-5m}",
            "${EMPTY:-5m}",
            "extract_v2",
            "slak",
            "webhook",
            "apprise",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.integers(-3, 3)
            | st.none()
            | st.booleans()
            | st.dates()
            | st.sampled_from(
                [
                    "_cli_parse_args",
                    "_env_prefix",
                    "llamacloud",
                    "api_key",
                    "sources",
                    "type",
                    "channels",
                    "rules",
                    "notify",
                    "when",
                    "polling",
                    "interval",
                    "url",
                    "urls",
                    "secret",
                    "name",
                    "status",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
FUZZ_ENV = {"X": "1m", "EMPTY": ""}


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(config_values)
def test_broken_configs_are_config_errors(tmp_path: Path, data: Any) -> None:
    """Whatever the YAML holds, loading it succeeds or raises ConfigError with path lines."""
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_settings(path, FUZZ_ENV)
    except ConfigError as exc:
        assert all(": " in line for line in str(exc).splitlines())


VALID_CONFIG = (
    b"llamacloud: {api_key: k-fuzz-1234, timeout: 30s}\n"
    b"sources: [{type: extract_v2}]\n"
    b"channels: {h: {type: webhook, url: 'http://127.0.0.1/'}}\n"
    b"rules: [{name: r, when: {status: [FAILED]}, notify: [h]}]\n"
)


def _mutate(data: tuple[int, bytes, str]) -> bytes:
    at, insert, encoding = data
    at %= len(VALID_CONFIG) + 1
    return (VALID_CONFIG[:at] + insert + VALID_CONFIG[at:]).decode("latin-1").encode(encoding)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.binary(max_size=200)
    | st.tuples(
        st.integers(0, len(VALID_CONFIG)),
        st.binary(min_size=1, max_size=6)
        | st.sampled_from([b"\n1: x", b"\n~: x", b"\n2026-13-45: x", b" &a [*a]", b"!!int "]),
        st.sampled_from(["latin-1", "utf-16", "utf-16-le", "utf-8-sig"]),
    ).map(_mutate)
)
def test_arbitrary_bytes_are_config_errors(tmp_path: Path, raw: bytes) -> None:
    """Any bytes at all, in any encoding: loaded, or a ConfigError with path lines."""
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(raw)
    try:
        load_settings(path, FUZZ_ENV)
    except ConfigError as exc:
        assert all(": " in line for line in str(exc).splitlines())


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "NOTIFIER_SOURCES",
                "NOTIFIER_POLLING",
                "NOTIFIER_POLLING__INTERVAL",
                "NOTIFIER_CHANNELS",
                "NOTIFIER_CHANNELS__H__HEADERS",
                "NOTIFIER_RULES",
                "NOTIFIER_HTTP__LISTEN",
                "NOTIFIER_LLAMACLOUD__MAX_REQUESTS_PER_SECOND",
            ]
        ),
        st.text(max_size=30)
        | json_values.map(json.dumps)
        | st.sampled_from(["[{", "[" * 5000, "1e400", "NaN", '{"interval": 1e400}']),
        max_size=3,
    )
)
def test_broken_environment_overrides_are_config_errors(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Whatever NOTIFIER_ variables hold: loaded, or a ConfigError that never shows a value."""
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(VALID_CONFIG)
    try:
        load_settings(path, env)
    except ConfigError as exc:
        lines = str(exc).splitlines()
        assert all(": " in line for line in lines)
        for line in lines:  # the variable is named, its text never shown
            assert "JSON" not in line or re.fullmatch(
                r"NOTIFIER_\w+: (not valid JSON|JSON nested too deeply)", line
            )


OK = "llamacloud: {api_key: k}\nsources: [{type: parse_v2}]\n"


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ("llamacloud: [\n", {}),
        ("llamacloud: {api_key: k}\nsources: [{type: extract_v2, statuses: [DONE]}]\n", {}),
        ("llamacloud: {api_key: k}\nsources: 7\n", {}),
        ("\x00\x01binary", {}),
        ("llamacloud: {api_key: k, timeout: 5 minutes}\nsources: [{type: parse_v2}]\n", {}),
        (b"\xff\xfe llamacloud:\n", {}),
        (b"\xfe\xff\x00l\x00:\x00 \xd8\x00", {}),  # UTF-16 with a lone surrogate
        (OK + "1: foo\n", {}),
        (OK + "polling: {interval: 1000000000d}\n", {}),
        (OK + "polling: {interval: .inf}\n", {}),
        (OK + "polling: {interval: 99999999999999d}\n", {}),
        (OK, {"NOTIFIER_SOURCES": "[{bad"}),
        ("llamacloud: " + "[" * 5000 + "]" * 5000 + "\n", {}),
        (OK + "x: 2026-13-45\n", {}),
        (OK + "_cli_parse_args: true\n", {}),
    ],
)
def test_broken_configs_exit_2_without_traceback(
    tmp_path: Path, text: str | bytes, env: dict[str, str]
) -> None:
    """The CLI turns each into exit status 2 and a readable message."""
    path = tmp_path / "broken.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    result = subprocess.run(
        [sys.executable, "-m", "notifier", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith(
        "notifier: invalid configuration"
    )
