"""The timer's housekeeping on the real database: retention purges in bounded bites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.report import Report
from services.adapters.counters import RECEIPTS_PURGED, REPORTS_PURGED, TIMER_SKIPPED
from services.processors.timer import DeadlineTimer
from tests.harness import System

pytestmark = pytest.mark.integration

NOW = datetime(2028, 12, 1, tzinfo=UTC)


def expiring(rid: str, expires_at: datetime) -> Report:
    return Report.model_validate(
        {
            "_id": rid,
            "partner_id": rid.split(":")[0],
            "cycle": "2026-10",
            "created_at": NOW,
            "updated_at": NOW,
            "expires_at": expires_at,
            "account_pending": True,
        }
    )


@pytest.mark.parametrize("bites", [1, 20])
async def test_expired_reports_and_old_receipts_are_purged_in_bounded_bites(
    system: System, bites: int
) -> None:
    old = [expiring(f"OLD{i}:2026-10", NOW - timedelta(days=1)) for i in range(7)]
    kept = [expiring(f"NEW{i}:2026-10", NOW + timedelta(days=1)) for i in range(3)]
    assert await system.store.save_reports([(r, None) for r in old + kept]) == set()
    horizon_days = 40 + system.settings.receipt_margin_days  # usage retention + margin
    stale, fresh = NOW - timedelta(days=horizon_days + 1), NOW - timedelta(days=horizon_days - 1)
    await system.store.record_receipts([(f"stale{i}", "h") for i in range(5)], stale)
    await system.store.record_receipts([(f"fresh{i}", "h") for i in range(2)], fresh)
    runtime = await system.runtime("timer", lambda: NOW)
    runtime.settings = runtime.settings.model_copy(update={"purge_batch": 4})
    timer = DeadlineTimer(runtime, purge_bites=bites)
    assert timer.receipt_horizon() == timedelta(days=horizon_days)

    await timer.tick()
    left = await system.store.reports.count_documents({})
    assert left == (10 - 4 if bites == 1 else 3)  # one bite; or bites until one is short
    await timer.tick()
    await timer.tick()
    ids = {d["_id"] for d in await system.store.reports.find({}, {"_id": 1}).to_list(None)}
    assert ids == {r.id for r in kept}
    receipts = {d["_id"] for d in await system.store.receipts.find({}).to_list(None)}
    assert receipts == {"fresh0", "fresh1"}
    counted = runtime.counters.take()
    assert counted[("", REPORTS_PURGED)] == 7
    assert counted[("", RECEIPTS_PURGED)] == 5


async def test_reports_the_timer_cannot_process_never_hide_the_others(system: System) -> None:
    """Skipped reports stay due; the pass pages past them instead of stopping at them."""
    opened = datetime(2026, 10, 20, tzinfo=UTC)
    deadline = datetime(2026, 11, 6, tzinfo=UTC)
    reports = []
    for i in range(7):
        report = Report.model_validate(
            {
                "_id": f"T{i}:2026-10",
                "partner_id": f"T{i}",
                "cycle": "2026-10",
                "created_at": opened,
                "updated_at": opened,
                "account_pending": False,
                "currency": "EUR",
                "region": "EMEA",
                "deadline": deadline,
                "lines": [
                    {
                        "product_id": "AV",
                        "subscriptions": [{"subscription_id": "s", "provisioned_units": 5}],
                        "provisioned_units": 5,
                        "chargeable_units": 5,
                        # Every other report holds a price no bill can have (bad data).
                        "unit_price": "1E+30" if i % 2 == 0 else "2.00",
                        "channel_margin": "0",
                    }
                ],
            }
        )
        reports.append(report)
    assert await system.store.save_reports([(r, None) for r in reports]) == set()
    runtime = await system.runtime("timer", lambda: deadline)
    submitted, _ = await DeadlineTimer(runtime, page_size=2).tick()
    assert submitted == 3
    docs = {d["_id"]: d["status"] for d in await system.store.reports.find({}).to_list(None)}
    assert sorted(rid for rid, status in docs.items() if status == "under_review") == [
        "T1:2026-10",
        "T3:2026-10",
        "T5:2026-10",
    ]
    assert runtime.counters.take()[("", TIMER_SKIPPED)] == 4


async def test_a_stored_report_that_no_longer_reads_does_not_stop_the_pass(
    system: System,
) -> None:
    deadline = datetime(2026, 11, 6, tzinfo=UTC)
    good = [expiring(f"G{i}:2026-10", NOW + timedelta(days=700)) for i in range(3)]
    good = [
        r.model_copy(update={"account_pending": False, "deadline": deadline, "currency": "EUR"})
        for r in good
    ]
    assert await system.store.save_reports([(r, None) for r in good]) == set()
    broken = {**good[0].to_document(), "_id": "B0:2026-10", "partner_id": "B0", "lines": "?"}
    await system.store.reports.insert_one(broken)
    runtime = await system.runtime("timer", lambda: deadline)
    submitted, _ = await DeadlineTimer(runtime, page_size=2).tick()
    assert submitted == 3
    still = await system.store.reports.find_one({"_id": "B0:2026-10"})
    assert still is not None
    assert still["status"] == "msp_preparing"
