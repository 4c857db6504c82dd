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

import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.pricing import PriceListed
from tests.faults.ledger import Counts, ids_with_two_payloads, outboxes_left, payloads_by_id
from tests.harness import System, cloud_event, eventually, unique

pytestmark = pytest.mark.faults

CYCLE = "2026-09"
DEADLINE = "2026-10-01T00:00:00+00:00"
PRODUCT_A = "TM-WFBS"  # provisioned 10, used 8: unexplained, 2 penalty units x 8.00
PRODUCT_B = "TM-EMAIL"  # provisioned 4, no used units: no discrepancy
POISONED = "TM-POISON"
REGION = "EMEA"
OVERDUE = 1_500
NORMAL = 20

Record = tuple[bytes | None, bytes]


def account(partner: str) -> Record:
    data = {
        "partner_id": partner,
        "name": f"MSP {partner}",
        "distributor_id": "D-timer",
        "region": REGION,
        "currency": "EUR",
        "auto_submit_days": 0,
    }
    return partner.encode(), cloud_event("lmp.account.partner", data)


def usage(partner: str, product: str, provisioned: int, used: int | None) -> Record:
    data = {
        "partner_id": partner,
        "cycle": CYCLE,
        "product_id": product,
        "subscription_id": f"sub-{product}",
        "provisioned_units": provisioned,
        "used_units": used,
        "observed_at": "2026-09-20T10:00:00Z",
    }
    return partner.encode(), cloud_event("lmp.usage.reported", data)


async def reports_awaiting_accounts(
    system: System, partners: list[str], extra: list[Record]
) -> list[str]:
    """Prices, then usage through the usage processor: reports that wait for their
    partner's account (no deadline yet, so no timer acts on them)."""
    now = datetime.now(UTC)
    for product, price, margin in ((PRODUCT_A, "10.00", "0.20"), (PRODUCT_B, "20.00", "0.10")):
        await system.store.save_price(
            PriceListed(
                region=REGION,
                product_id=product,
                currency="EUR",
                unit_price=price,
                channel_margin=margin,
            ),
            now,
        )
    await system.run_processors(("usage", "accounts"))
    records = [usage(p, PRODUCT_A, 10, 8) for p in partners]
    records += [usage(p, PRODUCT_B, 4, None) for p in partners]
    await system.publish("lmp.usage.v1", records + extra)
    ids = [f"{p}:{CYCLE}" for p in partners]

    async def all_there() -> bool:
        n = await system.store.reports.count_documents(
            {"_id": {"$in": ids}, "lines.1": {"$exists": True}}
        )
        return n == len(ids)

    await eventually(all_there, timeout=120, interval=0.5)
    return ids


async def open_overdue(system: System, partners: list[str]) -> None:
    """The accounts (``auto_submit_days: 0``): each report opens already overdue."""
    await system.publish("lmp.accounts.v1", [account(p) for p in partners])


async def all_open(system: System, ids: list[str]) -> bool:
    n = await system.store.reports.count_documents({"_id": {"$in": ids}, "account_pending": False})
    return n == len(ids)


async def submitted_count(system: System, ids: list[str]) -> int:
    return int(
        await system.store.reports.count_documents({"_id": {"$in": ids}, "status": "under_review"})
    )


def assignment(log: str) -> tuple[int, bool] | None:
    """(generation, whether it holds faust's leader partition) of the latest assignment
    in a timer's log; None before its first."""
    joins = re.findall(r"Joined group '[^']+' \(generation (\d+)\)", log)
    tables = re.findall(r"Setting newly assigned partitions(.*?) for group", log, re.S)
    if not joins or not tables:
        return None
    return int(joins[-1]), "__assignor-__leader" in tables[-1]


def leader_among(system: System, timers: tuple[str, ...]) -> str | None:
    """The one timer acting, once every timer holds the same generation's assignment."""
    states = {t: assignment(system.logs(t, 100_000)) for t in timers}
    if any(s is None for s in states.values()):
        return None
    if len({s[0] for s in states.values() if s is not None}) != 1:
        return None
    leaders = [t for t, s in states.items() if s is not None and s[1]]
    return leaders[0] if len(leaders) == 1 else None


async def account_for(system: System, ids: list[str]) -> tuple[Counts, list[str]]:
    """Each overdue report: submitted once by the timer, one penalty event id, one payload."""
    problems: list[str] = []
    docs = {
        d["_id"]: d for d in await system.store.reports.find({"_id": {"$in": ids}}).to_list(None)
    }
    payloads = await payloads_by_id(system)
    penalty_ids: dict[str, list[str]] = {}
    submitted_ids: dict[str, list[str]] = {}
    for event_id in payloads:
        rid = event_id.split("/", 1)[0]
        if "/penalty-assessed/" in event_id:
            penalty_ids.setdefault(rid, []).append(event_id)
        if "/submitted/auto/" in event_id:
            submitted_ids.setdefault(rid, []).append(event_id)
    penalties = {
        r["value"]["id"]: r["value"]["data"]
        for r in await system.read_all("lmp.penalties.v1", timeout=10.0)
    }
    counts = Counts(sent=len(ids))
    for rid in ids:
        doc = docs.get(rid)
        autos = [h for h in (doc or {}).get("history", []) if h["action"] == "auto-submitted"]
        if doc is None or doc["status"] != "under_review" or not autos:
            counts.lost += 1
            problems.append(f"{rid}: not submitted ({doc and doc['status']})")
            continue
        if len(autos) > 1 or len(penalty_ids.get(rid, [])) != 1:
            counts.contradictory += 1
            problems.append(
                f"{rid}: {len(autos)} automatic submissions, penalties {penalty_ids.get(rid)}"
            )
            continue
        if len(submitted_ids.get(rid, [])) != 1:
            counts.lost += 1
            problems.append(f"{rid}: submission events {submitted_ids.get(rid)}")
            continue
        if doc["submission_kind"] != "automatic_with_penalties":
            problems.append(f"{rid}: submitted as {doc['submission_kind']}")
        if penalties[penalty_ids[rid][0]]["amount_added"] != "16.00":
            problems.append(f"{rid}: penalty {penalties[penalty_ids[rid][0]]}")
        counts.applied += 1
    counts.duplicate_id_different_payload = len(ids_with_two_payloads(payloads))
    return counts, problems


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

    counts, problems = await account_for(system, ids)
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
    counts, problems = await account_for(system, ids)
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
    assert not [h for h in left["history"] if h["action"] == "auto-submitted"]
    poisoned_line = next(line for line in left["lines"] if line["product_id"] == POISONED)
    assert poisoned_line["unit_price"] == "1E+30"
    assert times_skipped > 0
    assert f"timer skipped report {poisoned_id}" in system.logs("timer", 100_000)
    assert not system.dead_processors(), {n: system.logs(n) for n in system.dead_processors()}


async def no_outbox(system: System) -> bool:
    return await outboxes_left(system) == 0
