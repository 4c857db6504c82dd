"""Two instances of every processor: the second joins mid-stream, the first is killed later.

Usage flows for a hundred partners and reports go through their whole review (partner,
distributor and Trend Micro actions, with redeliveries, conflicting duplicates and actions
on missing reports) while one instance of every processor runs. A few seconds in, a
second instance of each joins its consumer group (a rebalance under load); once every
group holds both, the first instances are killed with SIGKILL and the second carry on
alone. Both consumer paths of the action processors are tried. In the end every usage
figure is exact, every action has its one expected answer, published once, no event id
has two payloads. The two timers run beside them on a database of their own (the reviews'
reports are overdue and must not be submitted by a timer): half of their overdue reports
open before the second timer joins, half after the first is killed, and each is submitted
once, with one penalty.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services.processors import registry
from tests.faults.ledger import settled, stop_tasks
from tests.faults.support import (
    Sent,
    all_answered,
    extras,
    opened_months,
    patiently,
    script,
    tally,
)
from tests.faults.timer_support import (
    account_for_timers,
    leader_among,
    open_overdue,
    reports_awaiting_accounts,
    submitted_count,
)
from tests.harness import System, eventually, unique
from tests.scenario import Month

pytestmark = pytest.mark.faults

REPORTS = 20
OVERDUE = 200
JOIN_AFTER_SECONDS = 3.0
KILL_AFTER_SECONDS = 4.0  # once every group holds both instances
SLOW_BATCH = {"LMP_FAULT_BATCH_DELAY_SECONDS": "0.1"}


async def group_sizes(system: System, names: tuple[str, ...]) -> dict[str, int]:
    """Members of each processor's consumer group while it is stable (0 while it rebalances)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=system.servers.bootstrap_servers)
    await admin.start()
    try:
        prefix = system.namespace.rstrip(".")
        stable: dict[str, int] = {}
        for name in names:  # one at a time: aiokafka misreads some multi-group answers
            responses = await admin.describe_consumer_groups([f"{prefix}-{name}"])
            # Raw DescribeGroups answers: (error, group, state, protocol type, protocol, members)
            stable |= {e[1]: len(e[5]) for r in responses for e in r.groups if e[2] == "Stable"}
        return {n: stable.get(f"{prefix}-{n}", 0) for n in names}
    finally:
        await admin.close()


async def every_group_holds(system: System, names: tuple[str, ...], count: int) -> None:
    sizes: dict[str, int] = {}

    async def settled() -> bool:
        nonlocal sizes
        sizes = await group_sizes(system, names)
        return all(n == count for n in sizes.values())

    try:
        await eventually(settled, timeout=90, interval=0.5)
    except AssertionError as missed:
        raise AssertionError(f"groups never all held {count} members: {sizes}") from missed


async def join_then_kill(
    system: System, names: tuple[str, ...], timers: System, overdue: list[str]
) -> list[str]:
    """Start the second instances mid-stream; kill the first once both hold partitions.
    Half the timers' overdue reports open before the join, half after the kill."""
    done = []
    half = len(overdue) // 2
    await open_overdue(timers, overdue[:half])
    await asyncio.sleep(JOIN_AFTER_SECONDS)
    started = time.monotonic()
    for name in names:
        system.start_processor(name, instance="-b", env=SLOW_BATCH)
    timers.start_processor("timer", instance="-b")
    await every_group_holds(system, names, 2)
    await every_group_holds(timers, ("timer",), 2)
    done.append(f"second instances joined in {time.monotonic() - started:.1f}s")
    acting = await eventually(
        lambda: asyncio.sleep(0, leader_among(timers, ("timer-a", "timer-b"))),
        timeout=60,
        interval=0.5,
    )
    done.append(f"acting timer {acting}")
    await asyncio.sleep(KILL_AFTER_SECONDS)
    for name in names:
        system.kill_processor(f"{name}-a")
    timers.kill_processor("timer-a")
    done.append("first instances killed")
    await open_overdue(timers, overdue[half:])
    await every_group_holds(system, names, 1)
    return done


@pytest.fixture
async def timers(faulty: System, tmp_path: Path) -> AsyncIterator[System]:
    """A second system on the same servers, for the timers and their overdue reports."""
    system = System(faulty.servers, tmp_path / "timers")
    system.workdir.mkdir()
    await system.start()
    try:
        yield system
    finally:
        await system.close()


async def review_waves(system: System, months: list[Month], sent: Sent) -> None:
    """Every step of every report's review, a wave at a time, each answered before the next."""
    rng = random.Random(5)
    scripts = [script(m) for m in months]
    for wave in range(len(scripts[0])):
        wave_ids = []
        for month, steps in zip(months, scripts, strict=True):
            action_id = sent.step(month, steps[wave])
            wave_ids.append(action_id)
            topic, record = sent.records[action_id]
            await patiently(partial(system.publish, topic, [record]))
        wave_ids += await extras(system, sent, rng)
        await all_answered(system, wave_ids, sent)
        await asyncio.sleep(1.0)


@pytest.mark.parametrize("path", ["bulk", "agent"])
async def test_two_of_every_processor_with_one_joining_and_one_killed(
    faulty: System, timers: System, path: str
) -> None:
    system = faulty
    system.extra_env["LMP_ACTION_CONSUMER"] = path
    began = time.monotonic()
    names = tuple(n for n in registry() if n != "timer")
    overdue_partners = [unique("P-") for _ in range(OVERDUE)]
    overdue = await reports_awaiting_accounts(timers, overdue_partners, [])
    timers.start_processor("timer", instance="-a")
    for name in names:
        system.start_processor(name, instance="-a", env=SLOW_BATCH)
    months, stream = await opened_months(system, REPORTS)

    sent = Sent()
    usage_task = asyncio.create_task(stream.run())
    reviews_task = asyncio.create_task(review_waves(system, months, sent))
    try:
        faults = await asyncio.wait_for(
            join_then_kill(system, names, timers, overdue_partners), timeout=240
        )
        await asyncio.wait_for(usage_task, timeout=120)
        await asyncio.wait_for(reviews_task, timeout=300)
    finally:
        await stop_tasks(usage_task, reviews_task)
    await settled(system)

    async def all_submitted() -> bool:
        return await submitted_count(timers, overdue) == OVERDUE

    await eventually(all_submitted, timeout=90, interval=0.5)
    timer_counts, timer_problems = await account_for_timers(timers, overdue)
    counts, usage_problems, problems = await tally(system, stream, sent)
    counts.show(
        f"two of every processor, one joining and one killed ({path} path)",
        usage=stream.sent,
        actions=len(sent.expected),
        redeliveries=sent.redeliveries,
        conflicting=len(sent.conflicts),
        faults="; ".join(faults),
        seconds=f"{time.monotonic() - began:.0f}",
    )
    timer_counts.show(f"two timers, one joining and one killed ({path} path run)")
    assert not usage_problems, usage_problems[:10]
    assert not timer_problems, timer_problems[:10]
    timer_counts.assert_sound()
    assert timer_counts.applied == OVERDUE
    assert not problems, problems[:10]
    counts.assert_sound()
    assert not system.dead_processors(), {n: system.logs(n) for n in system.dead_processors()}
    assert set(system.processes) == {f"{name}-b" for name in names}
    assert not timers.dead_processors(), {n: timers.logs(n) for n in timers.dead_processors()}
