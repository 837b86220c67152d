"""apprise channels against real loopback targets: aiosmtpd for email, a stand-in for Slack.

Slack's hosted endpoint is out of reach, so its plugin's class attribute `webhook_url` points
at a loopback server and the tests assert on the exact request apprise makes.
"""

from __future__ import annotations

import asyncio
import email
import random
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any, Unpack

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from apprise.plugins.slack import NotifySlack

from notifier.channels.apprise import AppriseTarget
from notifier.channels.base import DeliveryError
from notifier.core.messages import Kind, Overrides, TemplateFailure, render_message
from notifier.core.models import Event, Route
from notifier.core.queueing import muted_by
from notifier.core.retry import Backoff, RetryPolicy
from notifier.core.samples import EventFields, sample_event
from notifier.delivery import OutboxWorker
from notifier.store.db import Store
from tests.harness import serve

SLACK_URL = "slack://T000AAAA/B000BBBB/XXXXXXXXXXXXXXXXXXXXXXXX"


def failed_event(n: int = 1, **kw: Unpack[EventFields]) -> Event:
    """Job ext-<n> failing with the error and times the messages below quote."""
    fields = EventFields(
        id=f"evt_{n:024d}",
        job_id=f"ext-{n}",
        project_id="prj-1",
        error_message="parser crashed",
        job_created_at="2026-11-23T09:58:00.000000Z",
        job_updated_at="2026-11-23T10:00:01.000000Z",
        detected_at="2026-11-23T10:00:05.123000Z",
    )
    return sample_event(**(fields | kw))


class SlackStandIn:
    """Answers like Slack ("ok"), or with scripted failures; records path and JSON."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.failures: list[int] = []
        self.accepted = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, await request.json()))
        if self.failures:
            return web.Response(status=self.failures.pop(0), text="internal_error")
        self.accepted += 1
        return web.Response(text="ok")


@pytest.fixture
async def slack(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SlackStandIn]:
    stand_in = SlackStandIn()
    app = web.Application()
    app.router.add_post("/{tail:.*}", stand_in.handle)
    runner, base = await serve(app)
    monkeypatch.setattr(NotifySlack, "webhook_url", f"{base}/services")
    yield stand_in
    await runner.cleanup()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


def parts(message: Message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for part in message.walk()
        if not part.is_multipart()
    }


async def test_failed_transition_by_email(smtp: tuple[Mailbox, int]) -> None:
    """A real SMTP server gets a one-line subject, a text part and an escaped HTML part."""
    mailbox, port = smtp
    channel = AppriseTarget(
        "oncall", [f"mailto://127.0.0.1:{port}?from=notifier@example.com&to=oncall@example.com"]
    )
    await channel.send(
        failed_event(error_message="<script>alert('x')</script> & worse"), "errors-by-email"
    )
    (message,) = mailbox.messages
    assert message["Subject"] == "[LlamaCloud] extract_v2 job ext-1 FAILED"
    assert message["To"] == "oncall@example.com"
    body = parts(message)
    text, html = body["text/plain"], body["text/html"]
    for expected in (
        "ext-1",
        "extract_v2",
        "prj-1",
        "RUNNING → FAILED",
        "Error: <script>alert('x')</script> & worse",
    ):
        assert expected in text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; worse" in html
    assert "<script>" not in html
    assert "Rule errors-by-email" in html


async def test_slack_request_is_exact_and_cannot_ping(slack: SlackStandIn) -> None:
    """The file name `<!channel> <@U123> a<b & c>` arrives entity-escaped: no mention possible."""
    channel = AppriseTarget("ops", [SLACK_URL])
    await channel.send(failed_event(name="<!channel> <@U123> a<b & c>"), "failures-to-slack")
    ((path, payload),) = slack.requests
    assert path == "/services/T000AAAA/B000BBBB/XXXXXXXXXXXXXXXXXXXXXXXX"
    (attachment,) = payload["attachments"]
    assert isinstance(attachment.pop("ts"), float)
    assert payload == {
        "mrkdwn": False,
        "attachments": [
            {
                "title": ":x: extract_v2 job ext-1: RUNNING -&gt; FAILED",
                "text": (
                    ":x: ext-1 (&lt;!channel&gt; &lt;@U123&gt; a&lt;b &amp; c&gt;): "
                    "RUNNING -&gt; FAILED | source extract_v2 | project prj-1\n"
                    "    error: parser crashed\n"
                    "    created 2026-11-23T09:58:00.000Z | updated 2026-11-23T10:00:01.000Z"
                    " | detected 2026-11-23T10:00:05.123Z"
                ),
                "color": "#A32037",
                "footer_icon": attachment["footer_icon"],
                "footer": "Apprise",
            }
        ],
        "icon_url": payload["icon_url"],
    }
    text = str(payload)
    assert "<!channel>" not in text and "<@U123>" not in text


async def test_templates_overrides_and_truncation(slack: SlackStandIn) -> None:
    """A rule's template wins over the channel's; overlong text ends in a marker."""
    channel = AppriseTarget(
        "ops",
        [SLACK_URL],
        overrides=Overrides(
            title="channel title {{ event.job_id }}", body="{{ event.error_message }}"
        ),
        rule_overrides={"special": Overrides(title="rule {{ rule }}: {{ count }} event")},
    )
    await channel.send(failed_event(error_message="x" * 5000), "plain")
    await channel.send(failed_event(), "special")
    first, second = (p["attachments"][0] for _, p in slack.requests)
    assert first["title"] == "channel title ext-1"
    assert first["text"].endswith("… [truncated]") and len(first["text"]) <= 3500
    assert second["title"] == "rule special: 1 event" and second["text"] == "parser crashed"


def test_sandbox_blocks_unsafe_templates() -> None:
    """A template cannot reach Python internals: unsafe attributes render as nothing."""
    quiet = render_message(
        Kind.TEXT, [failed_event()], "r", Overrides(title="x{{ event.__class__ }}y")
    )
    assert quiet.title == "xy"  # a dict key that is not there
    with pytest.raises(TemplateFailure, match="unsafe"):
        render_message(
            Kind.TEXT, [failed_event()], "r", Overrides(title="{{ ''.__class__.__subclasses__() }}")
        )


async def test_failure_names_the_masked_target_and_reason(slack: SlackStandIn) -> None:
    """A refused send raises a DeliveryError naming the target without its tokens."""
    slack.failures = [500]
    channel = AppriseTarget("ops", [SLACK_URL])
    with pytest.raises(DeliveryError) as caught:
        await channel.send(failed_event(), "r")
    message = str(caught.value)
    assert "channel 'ops'" in message and "XXXXXXXXXXXXXXXXXXXXXXXX" not in message
    assert "500" in message and caught.value.retryable


def queue(store: Store, events: list[Event], route: Route, now: str) -> None:
    store.commit_cycle(
        name="extract_v2",
        scope="",
        now=now,
        rows=[],
        watermark=None,
        baseline_done=True,
        events=[(e, [route]) for e in events],
    )


def worker(store: Store, channel: AppriseTarget, **kw: Any) -> OutboxWorker:
    policy = RetryPolicy(
        max_attempts=4,
        backoff=Backoff(base=0.01, cap=0.02),
    )
    return OutboxWorker(
        store,
        {channel.name: channel},
        {channel.name: policy},
        clock=lambda: datetime.now(UTC),
        rng=random.Random(0),
        **kw,
    )


async def run_until(w: OutboxWorker, done: Any, timeout: float = 10) -> None:
    w.start()
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.02)
    finally:
        await w.stop(1)


def now_text(offset: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_a_burst_of_200_failures_is_one_message(slack: SlackStandIn, tmp_path: Path) -> None:
    """200 FAILED transitions within group_wait: one Slack message that counts them."""
    store = Store(tmp_path / "n.db")
    route = Route("failures", "ops", group_key="failures|status=FAILED", group_wait=0.5)
    queue(store, [failed_event(n) for n in range(200)], route, now_text())
    await run_until(
        worker(store, AppriseTarget("ops", [SLACK_URL])),
        lambda: len(store.outbox.list_deliveries(state="delivered", limit=500)) == 200,
    )
    ((_, payload),) = slack.requests
    (attachment,) = payload["attachments"]
    assert attachment["title"] == ":x: 200 FAILED extract_v2 jobs (failures)"
    assert attachment["text"].count(":x: ext-") == 10 and attachment["text"].endswith(
        "... and 190 more"
    )


async def test_repeat_interval_suppresses_and_records(slack: SlackStandIn, tmp_path: Path) -> None:
    """The same job failing again within repeat_interval is recorded as suppressed, not sent."""
    store = Store(tmp_path / "n.db")
    route = Route("failures", "ops", repeat_interval=3600)
    queue(store, [failed_event(1)], route, now_text(-120))
    queue(store, [failed_event(1, id="evt_again")], route, now_text(-60))  # failed again
    queue(store, [failed_event(2)], route, now_text(-60))  # another job is not affected
    await run_until(
        worker(store, AppriseTarget("ops", [SLACK_URL])),
        lambda: len(store.outbox.list_deliveries(state="delivered")) == 2,
    )
    (suppressed,) = store.outbox.list_deliveries(state="suppressed")
    assert suppressed.event.id == "evt_again" and "repeat within 3600s" in (
        suppressed.last_error or ""
    )
    assert len(slack.requests) == 2


async def test_mutes_record_and_redeliver(slack: SlackStandIn, tmp_path: Path) -> None:
    """A muted channel sends nothing; the rows are kept as muted and can be requeued."""
    store = Store(tmp_path / "n.db")
    store.mutes.add(
        kind="channel", name="ops", until=now_text(3600), reason="maintenance", now=now_text()
    )
    queue(store, [failed_event(1)], Route("failures", "ops"), now_text())
    channel = AppriseTarget("ops", [SLACK_URL])

    def check(rule: str, name: str, now: datetime) -> str | None:
        stored = [(k, n, u) for _, k, n, u, _ in store.mutes.active(now_text())]
        return muted_by([], stored, rule, name, now)

    await run_until(
        worker(store, channel, mute_check=check),
        lambda: store.outbox.list_deliveries(state="muted"),
    )
    (muted,) = store.outbox.list_deliveries(state="muted")
    assert "muted: channel 'ops'" in (muted.last_error or "") and slack.requests == []
    store.mutes.remove(kind="channel", name="ops")
    assert store.outbox.requeue(now=now_text(), channel="ops") == 1
    await run_until(
        worker(store, channel, mute_check=check),
        lambda: store.outbox.list_deliveries(state="delivered"),
    )
    assert len(slack.requests) == 1


async def test_three_500s_then_accepted_exactly_once(slack: SlackStandIn, tmp_path: Path) -> None:
    """Retried through the outbox until Slack accepts: one accepted message, four attempts."""
    store = Store(tmp_path / "n.db")
    slack.failures = [500, 500, 500]
    queue(store, [failed_event(1)], Route("failures", "ops"), now_text())
    await run_until(
        worker(store, AppriseTarget("ops", [SLACK_URL])),
        lambda: store.outbox.list_deliveries(state="delivered"),
    )
    assert slack.accepted == 1 and len(slack.requests) == 4
    assert store.outbox.list_deliveries(state="delivered")[0].attempts == 4


async def test_endless_failure_is_dead_lettered_with_reason(
    slack: SlackStandIn, tmp_path: Path
) -> None:
    """A target that keeps failing ends in dead-letter, its reason recorded and masked."""
    store = Store(tmp_path / "n.db")
    slack.failures = [503] * 10
    queue(store, [failed_event(1)], Route("failures", "ops"), now_text())
    await run_until(
        worker(store, AppriseTarget("ops", [SLACK_URL])),
        lambda: store.outbox.list_deliveries(state="dead"),
    )
    (dead,) = store.outbox.list_deliveries(state="dead")
    assert dead.attempts == 4 and "503" in (dead.last_error or "")
    assert "XXXXXXXXXXXXXXXXXXXXXXXX" not in (dead.last_error or "")


class JsonTarget:
    """A loopback target for apprise's json:// plugin; each path answers its own status."""

    def __init__(self) -> None:
        self.answers: dict[str, list[int]] = {}
        self.requests: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        script = self.answers.get(request.path, [])
        status = script.pop(0) if script else 200
        return web.Response(status=status, text="scripted")


@pytest.fixture
async def json_target() -> AsyncIterator[tuple[JsonTarget, str]]:
    target = JsonTarget()
    app = web.Application()
    app.router.add_post("/{tail:.*}", target.handle)
    runner, base = await serve(app)
    yield target, base.replace("http://", "json://")
    await runner.cleanup()


async def test_what_took_a_row_is_known_by_url_not_by_position(
    smtp: tuple[Mailbox, int], json_target: tuple[JsonTarget, str]
) -> None:
    """The list edited between two attempts (a URL removed, the rest reordered): a URL that
    took the message is skipped wherever it moved, one that did not is sent to."""
    mailbox, port = smtp
    target, base = json_target
    target.answers["/down"] = [500]
    email_url = f"mailto://127.0.0.1:{port}?from=notifier@example.com&to=oncall@example.com"
    first = AppriseTarget("both", [f"{base}/down", email_url])
    with pytest.raises(DeliveryError) as caught:
        await first.send(failed_event(), "r")
    assert len(mailbox.messages) == 1 and len(caught.value.accepted) == 1
    edited = AppriseTarget("both", [email_url, f"{base}/new"])
    await edited.send(failed_event(), "r", caught.value.accepted)
    assert len(mailbox.messages) == 1 and target.requests == ["/down", "/new"]


async def test_one_failing_url_neither_blocks_nor_repeats_the_others(
    smtp: tuple[Mailbox, int], json_target: tuple[JsonTarget, str], tmp_path: Path
) -> None:
    """A channel of a failing URL and an email: the email goes out once, on the first attempt;
    the retries go only to the URL that failed, until it accepts."""
    mailbox, port = smtp
    target, base = json_target
    target.answers["/down"] = [500, 500]
    channel = AppriseTarget(
        "both",
        [
            f"{base}/down",
            f"mailto://127.0.0.1:{port}?from=notifier@example.com&to=oncall@example.com",
        ],
    )
    store = Store(tmp_path / "n.db")
    queue(store, [failed_event(1)], Route("failures", "both"), now_text())
    await run_until(worker(store, channel), lambda: store.outbox.list_deliveries(state="delivered"))
    (row,) = store.outbox.list_deliveries(state="delivered")
    assert row.attempts == 3 and target.requests == ["/down"] * 3
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize("status", [408, 409, 425])
async def test_not_now_answers_are_retried(
    status: int, json_target: tuple[JsonTarget, str]
) -> None:
    """SPEC section 4: 408, 409, 425 (and 429) are not permanent, for apprise targets too."""
    target, base = json_target
    target.answers["/busy"] = [status]
    with pytest.raises(DeliveryError) as caught:
        await AppriseTarget("busy", [f"{base}/busy"]).send(failed_event(), "r")
    assert caught.value.status == status and caught.value.retryable


async def test_concurrent_failures_keep_their_own_reasons(
    json_target: tuple[JsonTarget, str],
) -> None:
    """A 400 and a 500 failing at the same moment on two channels: each names its own."""
    target, base = json_target
    target.answers["/bad"] = [400] * 8
    target.answers["/broken"] = [500] * 8
    bad, broken = AppriseTarget("bad", [f"{base}/bad"]), AppriseTarget("broken", [f"{base}/broken"])
    outcomes = await asyncio.gather(
        *(c.send(failed_event(n), "r") for n in range(8) for c in (bad, broken)),
        return_exceptions=True,
    )
    for index, outcome in enumerate(outcomes):
        assert isinstance(outcome, DeliveryError)
        expected = 400 if index % 2 == 0 else 500
        assert (outcome.status, outcome.retryable) == (expected, expected == 500), outcome
