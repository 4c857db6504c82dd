"""The database server and then the broker stopped and started again under a stream.

Usage flows for a hundred partners and partner actions flow in waves for forty reports
while the database server is stopped for a few seconds and started again, and then the
broker. Nobody restarts a processor: each must ride out both outages by itself (its
process still running at the end), every usage figure must be exactly the highest
reported, and every action must have exactly its one expected answer, published once.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.conftest import RestartableServers
from tests.faults.ledger import GroupProgress, settled, stop_tasks
from tests.faults.support import (
    Sent,
    action_waves,
    opened_months,
    tally,
)
from tests.harness import System, eventually

pytestmark = pytest.mark.faults

PROCESSORS = ("usage", "accounts", "pricing", "partner-actions")
REPORTS = 40
DATABASE_AWAY_SECONDS = 7.0
BROKER_AWAY_SECONDS = 5.0  # plus its own stop and start, about 4 s


async def outages(servers: RestartableServers, system: System) -> list[str]:
    """The database server away, then (once usage flows again) the broker."""
    done = []
    progress = GroupProgress(system, "usage")
    try:

        async def committed_past(mark: int) -> bool:
            return await progress.committed("lmp.usage.v1") > mark

        # Usage flowing before the first fault (its first commits), not a guessed warm-up.
        await eventually(lambda: committed_past(0), timeout=90, interval=0.2)
        started = time.monotonic()
        await asyncio.to_thread(servers.stop_mongo)
        await asyncio.sleep(DATABASE_AWAY_SECONDS)
        await asyncio.to_thread(servers.start_mongo)
        away = time.monotonic() - started
        before = await progress.committed("lmp.usage.v1")
        back = time.monotonic()
        await eventually(lambda: committed_past(before), timeout=90, interval=0.2)
        done.append(
            f"database away {away:.1f}s, usage flowing {time.monotonic() - back:.1f}s after"
        )
        # ... and still flowing (a further commit) before the broker goes.
        resumed = await progress.committed("lmp.usage.v1")
        await eventually(lambda: committed_past(resumed), timeout=90, interval=0.2)
    finally:
        await progress.close()
    started = time.monotonic()
    await asyncio.to_thread(servers.stop_kafka)
    await asyncio.sleep(BROKER_AWAY_SECONDS)
    await asyncio.to_thread(servers.start_kafka)
    away = time.monotonic() - started
    progress = GroupProgress(system, "usage")
    try:
        before = await progress.committed("lmp.usage.v1")
        back = time.monotonic()

        async def flowing_again() -> bool:
            return await progress.committed("lmp.usage.v1") > before

        await eventually(flowing_again, timeout=90, interval=0.2)
        done.append(f"broker away {away:.1f}s, usage flowing {time.monotonic() - back:.1f}s after")
    finally:
        await progress.close()
    return done


async def test_processors_ride_out_database_and_broker_restarts(
    faulty: System, fault_servers: RestartableServers
) -> None:
    system = faulty
    began = time.monotonic()
    await system.run_processors(PROCESSORS)
    months, stream = await opened_months(system, REPORTS)

    sent = Sent()
    usage_task = asyncio.create_task(stream.run())
    actions_task = asyncio.create_task(action_waves(system, months, sent))
    try:
        faults = await asyncio.wait_for(outages(fault_servers, system), timeout=240)
        await asyncio.wait_for(usage_task, timeout=120)
        action_retries = await asyncio.wait_for(actions_task, timeout=240)
    finally:
        await stop_tasks(usage_task, actions_task)

    await settled(system)
    counts, usage_problems, problems = await tally(system, stream, sent)
    counts.show(
        "database and broker restarted under a stream",
        usage=stream.sent,
        actions=len(sent.expected),
        redeliveries=sent.redeliveries,
        conflicting=len(sent.conflicts),
        publish_retries=stream.retries + action_retries,
        faults="; ".join(faults),
        seconds=f"{time.monotonic() - began:.0f}",
    )
    assert not usage_problems, usage_problems[:10]
    assert not problems, problems[:10]
    counts.assert_sound()
    assert not system.dead_processors(), {n: system.logs(n) for n in system.dead_processors()}
    assert set(system.processes) == set(PROCESSORS)
