"""llamacloud.budget: one token bucket, served by priority, sweeps held to their share."""

from __future__ import annotations

import asyncio
import time

from notifier.llamacloud.budget import RequestBudget, Spend, current_purpose, spending


async def take(budget: RequestBudget, spend: Spend, scope: str, log: list[str]) -> None:
    with spending(spend, scope):
        await budget.acquire()
    log.append(f"{spend.name}:{scope}")


async def test_a_cycle_goes_out_at_once_within_the_burst() -> None:
    """A second's worth of requests needs no waiting; the next one waits about 1/rate."""
    budget = RequestBudget(20)
    started = time.monotonic()
    for _ in range(20):
        await budget.acquire()
    burst = time.monotonic() - started
    await budget.acquire()
    assert burst < 0.02
    assert time.monotonic() - started >= 0.04


async def test_cycles_are_served_before_baselines_and_sweeps() -> None:
    """With the bucket empty, a cycle's request that arrives last is served first."""
    budget = RequestBudget(50)
    for _ in range(50):
        await budget.acquire()
    order: list[str] = []
    waiting = [
        asyncio.create_task(take(budget, Spend.SWEEP, "a", order)),
        asyncio.create_task(take(budget, Spend.BASELINE, "b", order)),
    ]
    await asyncio.sleep(0)
    waiting.append(asyncio.create_task(take(budget, Spend.CYCLE, "c", order)))
    await asyncio.gather(*waiting)
    assert order == ["CYCLE:c", "BASELINE:b", "SWEEP:a"]


async def test_sweeps_keep_to_their_share_and_shares_are_reported() -> None:
    """At 40/s with a 0.25 share, sweeps get 10 at once, then 10/s, while cycles still go."""
    budget = RequestBudget(40, sweep_share=0.25)
    order: list[str] = []
    started = time.monotonic()
    await asyncio.gather(*(take(budget, Spend.SWEEP, "s", order) for _ in range(12)))
    sweeping = time.monotonic() - started
    assert sweeping >= 0.15  # 10 at once, 2 more at 10/s
    started = time.monotonic()
    await asyncio.gather(*(take(budget, Spend.CYCLE, "c", order) for _ in range(20)))
    assert time.monotonic() - started < 0.1  # the sweeps did not take the cycles' tokens
    shares = budget.share("s")
    assert shares == {Spend.SWEEP: 12 / (40 * 60)}
    assert budget.spent[("c", Spend.CYCLE)] == 20


async def test_the_purpose_travels_with_the_task() -> None:
    """A task marked as a sweep stays one; another task is a cycle by default."""
    seen: list[tuple[Spend, str]] = []

    async def sweep() -> None:
        with spending(Spend.SWEEP, "x"):
            await asyncio.sleep(0)
            seen.append(current_purpose())

    async def other() -> None:
        await asyncio.sleep(0)
        seen.append(current_purpose())

    await asyncio.gather(sweep(), other())
    assert sorted(seen) == [(Spend.CYCLE, ""), (Spend.SWEEP, "x")]


async def test_a_cancelled_wait_gives_its_place_up() -> None:
    """A cycle cancelled while it waits does not hold the queue for the others."""
    budget = RequestBudget(10)
    for _ in range(10):
        await budget.acquire()
    order: list[str] = []
    first = asyncio.create_task(take(budget, Spend.CYCLE, "gone", order))
    second = asyncio.create_task(take(budget, Spend.CYCLE, "kept", order))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.wait_for(second, timeout=1)
    assert order == ["CYCLE:kept"]


async def test_a_class_held_to_its_share_does_not_block_the_others() -> None:
    """Hints beyond their share wait; a baseline behind them goes on the free tokens."""
    budget = RequestBudget(40, hint_share=0.1)  # hints: 4 at once, then 4/s
    order: list[str] = []
    hints = [asyncio.create_task(take(budget, Spend.HINT, "h", order)) for _ in range(8)]
    await asyncio.sleep(0)
    started = time.monotonic()
    await asyncio.wait_for(take(budget, Spend.BASELINE, "b", order), timeout=0.2)
    assert time.monotonic() - started < 0.1
    assert order.count("HINT:h") == 4  # the rest wait for their own share
    await asyncio.gather(*hints)
