"""The database server and then the broker stopped and started again under a stream.

Usage flows for a hundred partners and partner actions flow in waves for forty reports
while the database server is stopped for a few seconds and started again, and then the
broker. Nobody restarts a processor: each must ride out both outages by itself (its
process still running at the end), every usage figure must be exactly the highest
reported, and every action must have exactly its one expected answer, published once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.faults.conftest import RestartableServers
from tests.faults.ledger import Counts, GroupProgress, settled, stop_tasks
from tests.faults.test_actions_under_crashes import (
    Sent,
    account_for,
    all_known,
    all_open,
    answered,
    extras,
    script,
)
from tests.harness import System, cloud_event, eventually, unique
from tests.scenario import Month

pytestmark = pytest.mark.faults

PROCESSORS = ("usage", "accounts", "pricing", "partner-actions")
REPORTS = 40
USAGE_PARTNERS = 100
ROUNDS = 60  # of usage, one snapshot per partner each, every ROUND_SECONDS
ROUND_SECONDS = 0.5
WAVE_SECONDS = 3.0  # the least time between two waves of actions
DATABASE_AWAY_SECONDS = 7.0
BROKER_AWAY_SECONDS = 5.0  # plus its own stop and start, about 4 s
CYCLE = "2026-10"
PRODUCT = "TM-WFBS"
SUBSCRIPTIONS = 3

Record = tuple[bytes | None, bytes]


async def patiently(publish: Callable[[], Awaitable[None]]) -> int:
    """Publish as an upstream system does while the broker is away: try again (the same
    bytes, so at worst an exact duplicate) until it is taken. Returns the retries."""
    retries = 0
    while True:
        try:
            await publish()
            return retries
        except Exception:
            retries += 1
            await asyncio.sleep(0.5)


async def tolerant(check: Callable[[], Awaitable[Any]]) -> Any:
    """A condition read from the database, false while the database is away."""
    try:
        return await check()
    except Exception:
        return False


class UsageStream:
    """Snapshots for the usage partners, rising over the rounds: the expected figure of
    each subscription is the highest provisioned and used units sent for it."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.partners = [unique("U-") for _ in range(USAGE_PARTNERS)]
        self.peaks: dict[tuple[str, str], tuple[int, int]] = {}
        self.snapshots: list[tuple[str, str, int, int]] = []
        self.sent = 0
        self.retries = 0

    def accounts(self) -> list[Record]:
        return [
            (
                p.encode(),
                cloud_event(
                    "lmp.account.partner",
                    {
                        "partner_id": p,
                        "name": p,
                        "distributor_id": "D-restarts",
                        "region": "EMEA",
                        "currency": "EUR",
                    },
                ),
            )
            for p in self.partners
        ]

    def round(self, n: int, rng: random.Random) -> list[Record]:
        records = []
        for partner in self.partners:
            sub = f"sub-{n % SUBSCRIPTIONS}"
            prov, used = self.peaks.get((partner, sub), (0, 0))
            prov += rng.randint(0, 3)
            used = min(prov, used + rng.randint(0, 3))
            self.peaks[(partner, sub)] = (prov, used)
            self.snapshots.append((partner, sub, prov, used))
            data = {
                "partner_id": partner,
                "cycle": CYCLE,
                "product_id": PRODUCT,
                "subscription_id": sub,
                "provisioned_units": prov,
                "used_units": used,
                "observed_at": f"2026-10-20T10:{n // 60:02d}:{n % 60:02d}Z",
            }
            records.append((partner.encode(), cloud_event("lmp.usage.reported", data)))
        return records

    async def run(self) -> None:
        rng = random.Random(7)
        for n in range(ROUNDS):
            records = self.round(n, rng)
            self.retries += await patiently(
                lambda r=records: self.system.publish("lmp.usage.v1", r)
            )
            self.sent += len(records)
            await asyncio.sleep(ROUND_SECONDS)

    def expected(self) -> dict[str, tuple[int, int]]:
        """Report id -> (provisioned, used) of its one line."""
        lines: dict[str, tuple[int, int]] = {}
        for (partner, _), (prov, used) in self.peaks.items():
            before = lines.get(f"{partner}:{CYCLE}", (0, 0))
            lines[f"{partner}:{CYCLE}"] = (before[0] + prov, before[1] + used)
        return lines

    async def account_for(self) -> tuple[int, list[str]]:
        """Messages whose effect is missing, and every report whose figures are not exact."""
        expected = self.expected()
        docs = await self.system.store.reports.find({"_id": {"$in": list(expected)}}).to_list(None)
        found = {
            d["_id"]: (d["lines"][0]["provisioned_units"], d["lines"][0]["used_units"])
            for d in docs
            if d["lines"] and not d["account_pending"]
        }
        problems = [
            f"{rid}: {found.get(rid)} != expected {want}"
            for rid, want in expected.items()
            if found.get(rid) != want
        ]
        subs = {
            (d["partner_id"], sub["subscription_id"]): (sub["provisioned_units"], sub["used_units"])
            for d in docs
            for line in d["lines"]
            for sub in line["subscriptions"]
        }
        lost = 0
        for partner, sub, prov, used in self.snapshots:
            held = subs.get((partner, sub))
            lost += held is None or held[0] < prov or (held[1] or 0) < used
        return lost, problems


async def action_waves(system: System, months: list[Month], sent: Sent) -> int:
    """The partners' part of each review, a wave at a time, each answered before the next."""
    rng = random.Random(11)
    retries = 0
    scripts = [script(m) for m in months]
    partner_steps = [i for i, step in enumerate(scripts[0]) if step[0] == "partner"]
    for step in partner_steps:
        started = time.monotonic()
        wave_ids = []
        for month, steps in zip(months, scripts, strict=True):
            action_id = sent.step(month, steps[step])
            wave_ids.append(action_id)
            topic, record = sent.records[action_id]
            retries += await patiently(lambda r=record, t=topic: system.publish(t, [r]))
        wave_ids += await extras(system, sent, rng)
        await eventually(
            lambda ids=wave_ids: tolerant(lambda: answered(system, ids, sent.report_of)),
            timeout=120,
        )
        await asyncio.sleep(max(0.0, WAVE_SECONDS - (time.monotonic() - started)))
    return retries


async def outages(servers: RestartableServers, system: System) -> list[str]:
    """The database server away, then (once usage flows again) the broker."""
    done = []
    await asyncio.sleep(3)
    progress = GroupProgress(system, "usage")
    try:
        started = time.monotonic()
        await asyncio.to_thread(servers.stop_mongo)
        await asyncio.sleep(DATABASE_AWAY_SECONDS)
        await asyncio.to_thread(servers.start_mongo)
        away = time.monotonic() - started
        before = await progress.committed("lmp.usage.v1")
        back = time.monotonic()

        async def flowing() -> bool:
            return await progress.committed("lmp.usage.v1") > before

        await eventually(flowing, timeout=90, interval=0.2)
        done.append(
            f"database away {away:.1f}s, usage flowing {time.monotonic() - back:.1f}s after"
        )
    finally:
        await progress.close()
    await asyncio.sleep(2)
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
    months = [Month(system) for _ in range(REPORTS)]
    stream = UsageStream(system)
    today = datetime.now(UTC)
    await system.publish("lmp.accounts.v1", [r for m in months for r in m.accounts()])
    await system.publish("lmp.accounts.v1", stream.accounts())
    await system.publish("lmp.pricing.v1", [r for m in months for r in m.pricing(today)])
    await eventually(lambda: all_known(system, months), timeout=120)
    await system.publish("lmp.usage.v1", [r for m in months for r in m.standard_usage()])
    await eventually(lambda: all_open(system, months), timeout=120)

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


async def tally(
    system: System, stream: UsageStream, sent: Sent
) -> tuple[Counts, list[str], list[str]]:
    """Usage and actions accounted for together: the counts, the usage figures that are
    not exact, and the actions whose answers are not the expected ones."""
    usage_lost, usage_problems = await stream.account_for()
    counts, problems = await account_for(system, sent)
    counts.sent += stream.sent
    counts.applied += stream.sent - usage_lost
    counts.lost += usage_lost
    return counts, usage_problems, problems
