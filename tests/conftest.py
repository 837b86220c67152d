"""Shared fixtures: the simulator and a verifying webhook receiver, both on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from notifier.simulator import start_simulator
from tests.harness import API_KEY, Receiver, Sim


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
