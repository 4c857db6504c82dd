"""The timers scenario, shared with the two-instances test: overdue reports awaiting
their accounts, which timer leads, what each submitted, and the accounting."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from schemas.pricing import PriceListed
from tests import builders
from tests.faults.ledger import Counts, ids_with_two_payloads, payloads_by_id
from tests.harness import System, eventually

CYCLE = "2026-09"


PRODUCT_A = "TM-WFBS"  # provisioned 10, used 8: unexplained, 2 penalty units x 8.00


PRODUCT_B = "TM-EMAIL"  # provisioned 4, no used units: no discrepancy


REGION = "EMEA"


Record = tuple[bytes | None, bytes]


def account(partner: str) -> Record:
    return builders.partner_account(partner, distributor="D-timer", region=REGION, days=0)


def usage(partner: str, product: str, provisioned: int, used: int | None) -> Record:
    return builders.usage(
        partner,
        product=product,
        sub=f"sub-{product}",
        provisioned=provisioned,
        used=used,
        cycle=CYCLE,
        observed_at="2026-09-20T10:00:00Z",
    )


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
        n: int = await system.store.reports.count_documents(
            {"_id": {"$in": ids}, "lines.1": {"$exists": True}}
        )
        return n == len(ids)

    await eventually(all_there, timeout=120, interval=0.5)
    return ids


async def open_overdue(system: System, partners: list[str]) -> None:
    """The accounts (``auto_submit_days: 0``): each report opens already overdue."""
    await system.publish("lmp.accounts.v1", [account(p) for p in partners])


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


async def account_for_timers(system: System, ids: list[str]) -> tuple[Counts, list[str]]:
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
