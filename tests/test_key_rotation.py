"""Key rotation: `secrets: [new, old]` signs each request once per secret, as Standard Webhooks
specifies, so a receiver holding either secret verifies it (checked by `standardwebhooks`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifier.assemble import build_channels, secret_values
from notifier.config.base import ConfigError
from notifier.config.load import load_settings
from notifier.core.samples import sample_event
from tests.harness import run_notifier, serve

NEW = "whsec_" + "bmV3LXNlY3JldC1vZi10aGlydHktdHdvLWJ5dGVzISE="  # 32 bytes
OLD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes
SHORT = "whsec_c2hvcnQtc2VjcmV0"  # 12 bytes: signs, but `check` warns
OTHER = "whsec_" + "c29tZW9uZS1lbHNlcy1zZWNyZXQtMzItYnl0ZXMhIQ=="
MINIMAL = {"llamacloud": {"api_key": "k-123456"}, "sources": [{"type": "extract_v2"}]}


def config(tmp_path: Path, channel: dict[str, object]) -> Path:
    path = tmp_path / "config.yaml"
    data = {
        **MINIMAL,
        "store": {"path": str(tmp_path / "n.db")},
        "channels": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/in", **channel}},
        "rules": [{"name": "all", "notify": ["hook"]}],
    }
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
async def captured() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    requests: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        requests.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/in", handle)
    runner, base = await serve(app)
    yield f"{base}/in", requests
    await runner.cleanup()


async def test_each_secret_verifies_the_same_request(
    tmp_path: Path, captured: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    """One request, two `v1,` signatures: the new and the old secret each verify it alone,
    a third secret does not."""
    url, requests = captured
    path = config(tmp_path, {"url": url, "secrets": [NEW, OLD]})
    channel = build_channels(load_settings(path, {}))["hook"]
    event = sample_event(id="evt_rotation000000000000001")
    assert await channel.send(event, "all") == 204
    await channel.close()
    (headers, body) = requests[0]
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    for secret in (NEW, OLD):
        assert Webhook(secret).verify(body, headers)["id"] == event.id
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(body, headers)


async def test_a_single_secret_in_the_list_signs_once(
    tmp_path: Path, captured: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    """After the rotation, `secrets: [new, ${OLD:-}]` with OLD unset signs with the new one."""
    url, requests = captured
    path = config(tmp_path, {"url": url, "secrets": [NEW, "${OLD_SECRET:-}"]})
    channel = build_channels(load_settings(path, {}))["hook"]
    await channel.send(sample_event(), "all")
    await channel.close()
    headers, body = requests[0]
    assert " " not in headers["webhook-signature"]
    Webhook(NEW).verify(body, headers)


class TestConfig:
    def test_secret_and_secrets_together_is_an_error(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as caught:
            load_settings(config(tmp_path, {"secret": OLD, "secrets": [NEW]}), {})
        assert str(caught.value) == "channels.hook.secrets: give secret or secrets, not both"

    def test_a_bad_secret_is_named_by_position_never_echoed(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as caught:
            load_settings(config(tmp_path, {"secrets": [NEW, "not base64 ~~ s3cr3t"]}), {})
        message = str(caught.value)
        assert message == "channels.hook.secrets[1]: must be base64, optionally prefixed whsec_"
        assert "s3cr3t" not in message

    def test_an_empty_list_is_an_error(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as caught:
            load_settings(config(tmp_path, {"secrets": []}), {})
        assert str(caught.value).startswith("channels.hook.secrets: list at least one secret")

    def test_every_secret_is_masked_in_logs(self, tmp_path: Path) -> None:
        values = secret_values(load_settings(config(tmp_path, {"secrets": [NEW, OLD]}), {}))
        for secret in (NEW, OLD, NEW.removeprefix("whsec_"), OLD.removeprefix("whsec_")):
            assert secret in values


def test_check_warns_of_a_short_secret_without_showing_it(tmp_path: Path) -> None:
    """`check` exits 0, says which secret is short and how long, and prints no secret."""
    path = config(tmp_path, {"secrets": [NEW, SHORT]})
    result = run_notifier("check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "(signed by 2)" in result.stdout
    assert "channels.hook.secrets[1]: 12 bytes once decoded" in result.stdout
    assert "channels.hook.secrets[0]" not in result.stdout
    for secret in (NEW, SHORT, SHORT.removeprefix("whsec_")):
        assert secret not in result.stdout + result.stderr
