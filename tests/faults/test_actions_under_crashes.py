"""Actions of every kind while the action processors are killed and stopped.

Forty reports go through their whole review in waves of actions (each wave is answered
before the next is sent, so every answer is known in advance), with exact redeliveries,
conflicting duplicates and actions on reports that do not exist mixed in. Meanwhile each
action processor is killed (SIGKILL) three times and stopped (SIGTERM) once, in the
middle of deliberately slowed batches, and started again. In the end every action must
have exactly one recorded answer — the expected one — the topics must carry exactly that
answer, no event id may have two payloads and no outbox may be left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime

import pytest

from tests.faults.ledger import (
    outboxes_left,
)
from tests.faults.support import (
    Sent,
    account_for_actions,
    all_answered,
    all_known,
    all_open,
    extras,
    script,
)
from tests.harness import System, eventually
from tests.scenario import Month

pytestmark = pytest.mark.faults

REPORTS = 40
ACTION_PROCESSORS = ("partner-actions", "distributor-actions", "trendmicro-responses")
SLOW_BATCH = {"LMP_FAULT_BATCH_DELAY_SECONDS": "0.15"}


async def chaos(system: System, rounds: list[tuple[str, str]], pause: float) -> list[str]:
    """Kill or stop each processor as listed, starting it again each time."""
    done = []
    for name, how in rounds:
        await asyncio.sleep(pause)
        if how == "kill":
            system.kill_processor(name)
        else:
            code = await asyncio.to_thread(system.terminate_processor, name)
            how = f"term(exit {code})"
        system.start_processor(name, env=SLOW_BATCH)
        done.append(f"{name}:{how}")
    return done


@pytest.mark.parametrize("path", ["bulk", "agent"])
async def test_every_action_is_answered_once_through_kills_and_stops(
    faulty: System, path: str
) -> None:
    """Both consumer paths: aiokafka batches (the default) and faust agents."""
    system = faulty
    system.extra_env["LMP_ACTION_CONSUMER"] = path
    await system.run_processors(("usage", "accounts", "pricing"))
    for name in ACTION_PROCESSORS:
        system.start_processor(name, env=SLOW_BATCH)
    months = [Month(system) for _ in range(REPORTS)]
    now = datetime.now(UTC)
    for topic, records in (
        ("lmp.accounts.v1", [r for m in months for r in m.accounts()]),
        ("lmp.pricing.v1", [r for m in months for r in m.pricing(now)]),
    ):
        await system.publish(topic, records)
    await eventually(lambda: all_known(system, months), timeout=120)
    await system.publish("lmp.usage.v1", [r for m in months for r in m.standard_usage()])
    await eventually(lambda: all_open(system, months), timeout=120)

    rng = random.Random(2026)
    sent = Sent()
    rounds = [(name, how) for how in ("kill", "kill", "term", "kill") for name in ACTION_PROCESSORS]
    rng.shuffle(rounds)
    chaos_task = asyncio.create_task(chaos(system, rounds, pause=1.5))
    scripts = [script(m) for m in months]
    for wave in range(len(scripts[0])):
        wave_ids = []
        for month, steps in zip(months, scripts, strict=True):
            action_id = sent.step(month, steps[wave])
            wave_ids.append(action_id)
            topic, record = sent.records[action_id]
            await system.publish(topic, [record])
        wave_ids += await extras(system, sent, rng)
        await all_answered(system, wave_ids, sent)
    with contextlib.suppress(asyncio.CancelledError):
        chaos_done = await asyncio.wait_for(chaos_task, timeout=120)

    await eventually(lambda: nothing_left(system), timeout=60)
    counts, problems = await account_for_actions(system, sent)
    counts.show(
        f"actions under kill -9 and SIGTERM ({path} path)",
        redeliveries=sent.redeliveries,
        conflicting=len(sent.conflicts),
        chaos=",".join(chaos_done),
    )
    assert not problems, problems[:10]
    counts.assert_sound()
    assert counts.sent == len(sent.expected)
    assert not system.dead_processors(), {n: system.logs(n) for n in system.dead_processors()}


async def nothing_left(system: System) -> bool:
    return await outboxes_left(system) == 0
