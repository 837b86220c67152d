"""Digests: one message per cron time in a time zone, built from the event log, delivered
through the outbox to a real receiver, neither lost nor repeated across a restart."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from notifier.config.base import ConfigError
from notifier.config.load import load_settings
from notifier.config.models import Settings
from notifier.core.diff import STUCK
from notifier.core.digest import DigestWindow, Tally, build_digest, counts_text
from notifier.core.messages import Kind, render_message
from notifier.core.models import Event
from notifier.core.render import payload_bytes
from notifier.core.samples import sample_event
from notifier.core.timestamps import format_ts
from notifier.daemon import Daemon
from notifier.notices.digests import fires_between, last_fire
from notifier.simulator import start_simulator
from tests.harness import API_KEY, WEBHOOK_SECRET, Receiver
from tests.test_apprise import Mailbox, parts, smtp  # noqa: F401 -- smtp is a fixture

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=BERLIN).astimezone(UTC)


def job_event(n: int, at: datetime, status: str = "COMPLETED", **extra: Any) -> Event:
    error = {"error_message": extra.pop("error", None)} if status == "FAILED" else {}
    return sample_event(
        id=f"evt_digest{n:015d}",
        job_id=f"ext-{n}",
        to_status=status,
        detected_at=format_ts(at),
        **error,
        **extra,
    )


class TestCore:
    def test_counts_top_errors_and_groups(self) -> None:
        """`1,234 completed, 12 failed, 40 throttled, 2 stuck`, the top 3 errors, per source
        and per project."""
        tally = Tally()
        at = berlin(23, 10)
        events = [job_event(n, at) for n in range(1234)]
        events += [
            job_event(2000 + n, at, "FAILED", error=f"error {n % 4}", project_id="prj-b")
            for n in range(12)
        ]
        events += [job_event(3000 + n, at, "THROTTLED", source="extract_v2") for n in range(40)]
        events += [job_event(4000 + n, at, "RUNNING", type=STUCK) for n in range(2)]
        for event in events:
            tally.add(event)
        window = DigestWindow(
            "daily",
            format_ts(berlin(22, 9)),
            format_ts(berlin(23, 9)),
            "Europe/Berlin",
            "0 9 * * *",
        )
        digest = build_digest(window, tally)
        assert digest is not None
        text = str(digest.job["text"])
        assert text.startswith(
            "Digest daily, 2026-11-22 09:00 to 2026-11-23 09:00 Europe/Berlin: "
            "1,234 completed, 12 failed, 40 throttled, 2 stuck, 0 running"[:-11]
        )
        assert digest.job["counts"] == {
            "completed": 1234,
            "failed": 12,
            "throttled": 40,
            "stuck": 2,
        }
        assert [e["count"] for e in digest.job["top_errors"]] == [3, 3, 3]
        assert "Top 3 errors:" in text and "Per source:" in text and "Per project:" in text
        assert digest.job["by_project"]["prj-b"] == {"failed": 12}
        assert digest.id == window.digest_id == build_digest(window, tally).id  # type: ignore[union-attr]
        assert digest.type == "digest" and digest.source == "notifier"

    def test_an_empty_window_sends_nothing_unless_asked(self) -> None:
        window = DigestWindow("d", "2026-11-22T08:00:00.000000Z", "2026-11-23T08:00:00.000000Z")
        assert build_digest(window, Tally()) is None
        empty = build_digest(window, Tally(), send_empty=True)
        assert empty is not None and "no events" in str(empty.job["text"])

    def test_people_get_its_title_and_text_webhooks_its_fields(self) -> None:
        """Slack and email show the digest's own words (no job template); the webhook body
        is its structured data."""
        tally = Tally()
        tally.add(job_event(1, berlin(23, 7), "FAILED", error="<!channel> boom"))
        window = DigestWindow("d", format_ts(berlin(22, 9)), format_ts(berlin(23, 9)), "UTC")
        digest = build_digest(window, tally)
        assert digest is not None
        for kind in Kind:
            message = render_message(kind, [digest], "d")
            assert message.title == "[LlamaCloud] d 2026-11-23 08:00 UTC: 1 failed"
            assert "1 x <!channel> boom" in message.body and not message.html
        payload = json.loads(payload_bytes(digest, "d"))
        assert payload["type"] == "digest" and payload["id"] == digest.id
        assert payload["data"]["counts"] == {"failed": 1} and payload["data"]["rule"] == "d"

    def test_counts_text_names_only_what_happened(self) -> None:
        assert counts_text(Counter(failed=1, completed=2)) == "2 completed, 1 failed"


class TestSchedule:
    def test_fires_in_the_zone_across_a_dst_change(self) -> None:
        """09:00 Berlin is 08:00 UTC in winter and 07:00 UTC in summer."""
        from apscheduler.triggers.cron import CronTrigger

        trigger = CronTrigger.from_crontab("0 9 * * *", timezone="Europe/Berlin")
        after = datetime(2026, 3, 27, 12, tzinfo=UTC)
        fires = fires_between(trigger, after, after + timedelta(days=3), limit=10)
        assert [f.astimezone(UTC).hour for f in fires] == [8, 7, 7]
        assert last_fire(trigger, fires[1]) == fires[1]
        assert last_fire(trigger, fires[1] - timedelta(seconds=1)) == fires[0]


def config(tmp_path: Path, sim_url: str, receiver_url: str, **digest: Any) -> Settings:
    data = {
        "llamacloud": {"api_key": API_KEY, "base_url": sim_url},
        "store": {"path": str(tmp_path / "n.db")},
        "polling": {"interval": "1h"},
        "sources": [{"type": "extract_v2"}],
        "channels": {"hook": {"type": "webhook", "url": receiver_url, "secret": WEBHOOK_SECRET}},
        "rules": [
            {
                "name": "daily",
                "when": {"source": ["extract_v2"]},
                "notify": ["hook"],
                "digest": {"schedule": "0 9 * * *", "timezone": "Europe/Berlin", **digest},
            }
        ],
        "delivery": {"backoff_base": "100ms"},
        "http": {"enabled": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_settings(path, {})


def record(daemon: Daemon, events: list[Event]) -> None:
    daemon.store.commit_jobs(
        scope="", now=events[-1].detected_at, rows=[], events=[(e, []) for e in events]
    )


async def test_digest_at_its_time_once_across_restarts(tmp_path: Path) -> None:
    """Sum of the log delivered at 09:00 Berlin (a faked clock), verified by standardwebhooks;
    a restart at the same time sends nothing more; two missed days are caught up in order."""
    receiver = await Receiver().start()
    sim, sim_url, _ = await start_simulator(api_key=API_KEY)
    now = [berlin(23, 8)]
    settings = config(tmp_path, sim_url, receiver.url)
    try:
        daemon = Daemon(settings, clock=lambda: now[0])
        assert await daemon.digests.safe_tick() == 0  # first sight: the window began 22nd 09:00
        record(
            daemon,
            [
                job_event(1, berlin(22, 8, 59), "FAILED", error="before the window"),
                job_event(2, berlin(22, 10)),
                job_event(3, berlin(23, 7), "FAILED", error="quota exceeded"),
                job_event(
                    4, berlin(23, 8, 30), "FAILED", error="quota exceeded", source="parse_v2"
                ),
                job_event(5, berlin(23, 9, 0, 1)),  # after the window's end
            ],
        )
        now[0] = berlin(23, 9, 0, 30)
        assert await daemon.digests.safe_tick() == 1
        await daemon.worker.drain()
        await receiver.wait_for(lambda: len(receiver.received) == 1)
        digest = receiver.received[0]
        data = digest.payload["data"]
        assert digest.payload["type"] == "digest"
        assert data["counts"] == {"completed": 1, "failed": 1}  # parse_v2 is not the rule's
        assert data["window_start"] == "2026-11-22T08:00:00.000Z"
        assert data["window_end"] == "2026-11-23T08:00:00.000Z"
        assert data["top_errors"] == [{"message": "quota exceeded", "count": 1}]
        assert data["rule"] == "daily" and "Europe/Berlin" in data["text"]
        assert (
            digest.webhook_id
            == DigestWindow("daily", data["window_start"], "2026-11-23T08:00:00.000000Z").digest_id
        )
        await daemon.close()

        daemon = Daemon(settings, clock=lambda: now[0])  # restarted at the same moment
        assert await daemon.digests.safe_tick() == 0
        await daemon.worker.drain()
        record(daemon, [job_event(6, berlin(24, 12)), job_event(7, berlin(25, 12))])
        await daemon.close()

        now[0] = berlin(25, 18)  # down over two 09:00s
        daemon = Daemon(settings, clock=lambda: now[0])
        assert await daemon.digests.safe_tick() == 2
        await daemon.worker.drain()
        await receiver.wait_for(lambda: len(receiver.received) == 3)
        ends = [r.payload["data"]["window_end"] for r in receiver.received[1:]]
        assert ends == ["2026-11-24T08:00:00.000Z", "2026-11-25T08:00:00.000Z"]
        # 09:00:01 on the 23rd is the second window's, noon on the 24th the third's; noon on
        # the 25th waits for the 26th.
        assert [r.payload["data"]["events"] for r in receiver.received[1:]] == [1, 1]
        assert len({r.webhook_id for r in receiver.received}) == 3 and not receiver.bad
        await daemon.close()
    finally:
        await receiver.stop()
        await sim.cleanup()


async def test_the_running_daemon_sends_a_missed_digest_at_start(tmp_path: Path) -> None:
    """`run` catches up at once (the scheduler's first digest check) and the outbox worker
    delivers it; a second run at the same time sends nothing new."""
    receiver = await Receiver().start()
    sim, sim_url, _ = await start_simulator(api_key=API_KEY)
    now = [berlin(23, 8)]
    settings = config(tmp_path, sim_url, receiver.url, send_empty=True)
    try:
        daemon = Daemon(settings, clock=lambda: now[0])
        await daemon.digests.safe_tick()
        await daemon.close()
        now[0] = berlin(23, 9, 5)
        for _ in range(2):
            stop = asyncio.Event()
            daemon = Daemon(settings, clock=lambda: now[0])
            running = asyncio.create_task(daemon.run(stop))
            if not receiver.received:
                await receiver.wait_for(lambda: len(receiver.received) == 1)
            else:
                await asyncio.sleep(1.5)
            stop.set()
            await asyncio.wait_for(running, 20)
        assert len(receiver.received) == 1
        assert receiver.received[0].payload["data"]["events"] == 0  # send_empty: true
    finally:
        await receiver.stop()
        await sim.cleanup()


class TestConfig:
    def write(self, tmp_path: Path, rule: dict[str, Any]) -> Path:
        path = tmp_path / "c.yaml"
        data = {
            "llamacloud": {"api_key": "k-123456"},
            "store": {"path": str(tmp_path / "n.db")},
            "sources": [{"type": "extract_v2"}],
            "channels": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/"}},
            "rules": [{"name": "d", "notify": ["hook"], **rule}],
        }
        path.write_text(yaml.safe_dump(data))
        return path

    @pytest.mark.parametrize(
        ("digest", "extra", "message"),
        [
            ({"schedule": "0 25 * * *"}, {}, "rules[0].digest.schedule: Error validating"),
            ({"schedule": "0 9 * *"}, {}, "rules[0].digest.schedule: Wrong number of fields"),
            (
                {"schedule": "0 9 * * *", "timezone": "Mars/Olympus"},
                {},
                "rules[0].digest.timezone: unknown time zone 'Mars/Olympus'",
            ),
            (
                {"schedule": "0 9 * * *"},
                {"group_wait": "30s"},
                "rules[0].group_wait: does not apply to a digest rule",
            ),
        ],
    )
    def test_bad_digest_settings_name_the_field(
        self, tmp_path: Path, digest: dict[str, Any], extra: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ConfigError) as caught:
            load_settings(self.write(tmp_path, {"digest": digest, **extra}), {})
        assert message in str(caught.value)


async def test_a_digest_by_email_to_a_real_smtp_server(
    tmp_path: Path,
    smtp: tuple[Mailbox, int],  # noqa: F811 -- the fixture imported above, asked for by name
) -> None:
    """Through apprise and the outbox to aiosmtpd: the subject is the digest's headline, the
    text its counts and top errors."""
    mailbox, port = smtp
    sim, sim_url, _ = await start_simulator(api_key=API_KEY)
    config(tmp_path, sim_url, "http://127.0.0.1:9/")  # writes config.yaml, changed below
    data = yaml.safe_load((tmp_path / "config.yaml").read_text())
    data["channels"]["mail"] = {
        "type": "apprise",
        "urls": [f"mailto://127.0.0.1:{port}?from=notifier@example.com&to=ops@example.com"],
    }
    data["rules"][0]["notify"] = ["mail"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data))
    settings = load_settings(tmp_path / "config.yaml", {})
    now = [berlin(23, 8)]
    daemon = Daemon(settings, clock=lambda: now[0])
    try:
        await daemon.digests.safe_tick()
        record(
            daemon,
            [
                job_event(1, berlin(22, 12)),
                job_event(2, berlin(22, 13), "FAILED", error="parser crashed"),
                job_event(3, berlin(22, 14), "FAILED", error="parser crashed"),
            ],
        )
        now[0] = berlin(23, 9, 1)
        assert await daemon.digests.safe_tick() == 1
        await daemon.worker.drain()
        (message,) = mailbox.messages
        assert message["Subject"] == (
            "[LlamaCloud] daily 2026-11-23 09:00 Europe/Berlin: 1 completed, 2 failed"
        )
        text = parts(message)["text/plain"]
        assert "Top 1 error:" in text and "2 x parser crashed" in text
        assert "extract_v2: 1 completed, 2 failed" in text
        assert daemon.store.outbox.counts() == {("mail", "delivered"): 1}
    finally:
        await daemon.close()
        await sim.cleanup()
