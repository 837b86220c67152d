"""Shared fixtures: the simulator and a verifying webhook receiver, both on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from notifier.simulator import start_simulator
from tests.harness import API_KEY, WEBHOOK_SECRET, Receiver, Sim


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    runner, url, _ = await start_simulator(api_key=API_KEY)
    async with aiohttp.ClientSession() as session:
        yield Sim(url, session)
    await runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = await Receiver().start()
    yield rec
    await rec.stop()


# Every secret the suite hands to a notifier process. None may appear in any log it writes.
SECRETS = (
    API_KEY,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET.removeprefix("whsec_"),
    "llx-cli-test-key-0042",
    "XXXXXXXXXXXXsecret",
    "mailpass99",
    "s3cret-pass",
    "status-page-token-8842",
    "XXXXXXXXXXXXXXXXXXXXXXXX",
)


@pytest.fixture(autouse=True)
def no_secret_in_any_log(tmp_path: Path) -> Iterator[None]:
    """After each test, scan every log file its notifier processes wrote for the secrets."""
    yield
    for path in tmp_path.rglob("*.log"):
        text = path.read_text(errors="replace")
        for secret in SECRETS:
            assert secret not in text, f"a secret ({secret[:4]}...) leaked into {path.name}"
