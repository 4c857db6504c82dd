"""The timer under faults: the acting timer killed mid-pass, and a poisoned price.

(a) Fifteen hundred reports of cycle 2026-09 with ``auto_submit_days: 0`` are overdue
on the real clock (deadline 2026-10-01), each with an unexplained discrepancy, so the
automatic submission charges a penalty. Their usage comes first; the two timer
processes start and settle in their group (one holds faust's leader partition: the one
that acts); only then do the accounts arrive and the reports open, already overdue. The
acting timer is killed with SIGKILL once its submissions have begun; the survivor must
take over and finish: every overdue report submitted exactly once, exactly one penalty
event id per report, no id with two payloads.

(b) A price of ``1E+30`` is written straight into the database, both as a price document
and as one overdue report's line price. The timer's pass must submit the twenty other
overdue reports, skip the poisoned one (left as it was) and count it (``timer_skipped``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.faults.ledger import outboxes_left
from tests.faults.timer_support import (
    CYCLE,
    REGION,
    account_for_timers,
    leader_among,
    open_overdue,
    reports_awaiting_accounts,
    submitted_count,
    usage,
)
from tests.harness import System, eventually, unique, whole_history

pytestmark = pytest.mark.faults

DEADLINE = "2026-10-01T00:00:00+00:00"
POISONED = "TM-POISON"
OVERDUE = 1_500
NORMAL = 20


async def all_open(system: System, ids: list[str]) -> bool:
    n: int = await system.store.reports.count_documents(
        {"_id": {"$in": ids}, "account_pending": False}
    )
    return n == len(ids)


async def test_two_timers_one_killed_mid_pass_submit_each_report_once(faulty: System) -> None:
    system = faulty
    began = time.monotonic()
    partners = [unique("P-") for _ in range(OVERDUE)]
    ids = [f"{p}:{CYCLE}" for p in partners]
    await reports_awaiting_accounts(system, partners, [])
    timers = ("timer-1", "timer-2")
    for instance in ("-1", "-2"):
        system.start_processor("timer", instance=instance)

    async def settled() -> str | None:
        return leader_among(system, timers)

    leader = await eventually(settled, timeout=60, interval=0.2)
    await open_overdue(system, partners)
    await eventually(lambda: submitted_count(system, ids), timeout=60, interval=0.05)
    assert leader_among(system, timers) == leader, {t: system.logs(t, 40) for t in timers}
    system.kill_processor(leader)
    at_kill = await submitted_count(system, ids)
    killed_at = time.monotonic()
    survivor = next(t for t in timers if t != leader)

    async def first_with_its_account() -> dict[str, Any] | None:
        # Accounts arrive in batches while the timer already acts on those applied.
        found: dict[str, Any] | None = await system.store.reports.find_one(
            {"_id": ids[0], "deadline": {"$ne": None}}
        )
        return found

    report = await eventually(first_with_its_account, timeout=60, interval=0.2)
    assert report["deadline"].replace(tzinfo=UTC).isoformat() == DEADLINE

    async def all_submitted() -> bool:
        return await submitted_count(system, ids) == OVERDUE

    await eventually(all_submitted, timeout=90, interval=0.5)
    finished_in = time.monotonic() - killed_at
    await eventually(lambda: no_outbox(system), timeout=30)
    took_over = leader_among(system, (survivor,))

    counts, problems = await account_for_timers(system, ids)
    counts.show(
        "two timers, the acting one killed mid-pass",
        killed=leader,
        submitted_before_kill=at_kill,
        survivor_finished_in=f"{finished_in:.1f}s",
        seconds=f"{time.monotonic() - began:.0f}",
    )
    assert not problems, problems[:10]
    counts.assert_sound()
    assert counts.applied == OVERDUE
    assert 0 < at_kill < OVERDUE, "the kill did not land mid-pass"
    assert took_over == survivor, system.logs(survivor, 60)
    assert not system.dead_processors(), {n: system.logs(n) for n in system.dead_processors()}


async def test_a_poisoned_price_skips_one_report_and_the_pass_completes(faulty: System) -> None:
    system = faulty
    began = time.monotonic()
    partners = [unique("P-") for _ in range(NORMAL + 1)]
    poisoned, normal = partners[0], partners[1:]
    poisoned_id, ids = f"{poisoned}:{CYCLE}", [f"{p}:{CYCLE}" for p in normal]
    await reports_awaiting_accounts(system, partners, [usage(poisoned, POISONED, 10, 8)])
    await open_overdue(system, partners)
    await eventually(lambda: all_open(system, [poisoned_id, *ids]), timeout=60, interval=0.5)
    await eventually(lambda: no_outbox(system), timeout=30)
    # Straight into the database: nothing inbound could carry these any more.
    await system.store.prices.insert_one(
        {
            "_id": f"{REGION}|{POISONED}",
            "region": REGION,
            "product_id": POISONED,
            "currency": "EUR",
            "unit_price": "1E+30",
            "channel_margin": "0",
            "updated_at": datetime.now(UTC),
        }
    )
    changed = await system.store.reports.update_one(
        {"_id": poisoned_id, "lines.product_id": POISONED},
        {"$set": {"lines.$.unit_price": "1E+30", "lines.$.channel_margin": "0"}},
    )
    assert changed.modified_count == 1

    system.start_processor("timer", env={"LMP_METRICS_FLUSH_SECONDS": "0.5"})

    async def others_submitted() -> bool:
        return await submitted_count(system, ids) == NORMAL

    await eventually(others_submitted, timeout=60, interval=0.5)

    async def skipped() -> int:
        doc = await system.store.metrics.find_one({"processor": "timer", "name": "timer_skipped"})
        return int(doc["value"]) if doc else 0

    times_skipped = await eventually(skipped, timeout=30, interval=0.5)
    await eventually(lambda: no_outbox(system), timeout=30)
    left = await system.store.reports.find_one({"_id": poisoned_id})
    assert left is not None
    counts, problems = await account_for_timers(system, ids)
    counts.show(
        "a poisoned price in the database",
        skipped_reports=1 if left["status"] == "msp_preparing" else 0,
        timer_skipped=times_skipped,
        seconds=f"{time.monotonic() - began:.0f}",
    )
    assert not problems, problems[:10]
    counts.assert_sound()
    assert counts.applied == NORMAL
    assert left["status"] == "msp_preparing", left["status"]
    history = await whole_history(system.store, left)
    assert not [h for h in history if h["action"] == "auto-submitted"]
    poisoned_line = next(line for line in left["lines"] if line["product_id"] == POISONED)
    assert poisoned_line["unit_price"] == "1E+30"
    assert times_skipped > 0
    assert f"timer skipped report {poisoned_id}" in system.logs("timer", 100_000)
    assert not system.dead_processors(), {n: system.logs(n) for n in system.dead_processors()}


async def no_outbox(system: System) -> bool:
    return await outboxes_left(system) == 0
