"""Reminders and automatic submission on an injected clock, over the real broker and database.

Usage, accounts, pricing and partner actions run as processes; the timer's pass runs
in the test process on a clock the test sets, so days pass without sleeping. The
faust wiring around it (leader-only timer) is what ``lmp-billing process timer`` adds.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat

from services.adapters.cloudevents_binding import STRUCTURED_CONTENT_TYPE
from services.processors.timer import DeadlineTimer
from tests.harness import System, cloud_event, eventually, whole_history
from tests.scenario import CYCLE, PRODUCT_A, PRODUCT_B, Month, utc

pytestmark = pytest.mark.e2e

PROCESSORS = ("usage", "accounts", "pricing", "partner-actions")
DEADLINE = utc("2026-11-04T00:00:00")  # cycle 2026-10 + auto_submit_days 3


class Clock:
    def __init__(self) -> None:
        self.now = utc("2026-10-25T00:00:00")

    def __call__(self) -> datetime:
        return self.now


async def clean_database(system: System) -> None:
    """Each scenario starts from no reports so the timer sees only its own."""
    await system.store.reports.delete_many({})


async def test_reminders_then_automatic_submission_with_penalties(running: System) -> None:
    await clean_database(running)
    clock = Clock()
    month = Month(running, auto_submit_days=3)
    await month.open(datetime.now(UTC))
    timer = DeadlineTimer(await running.runtime("timer", clock))

    assert await timer.tick() == (0, 0)
    clock.now = utc("2026-11-01T00:00:00")
    assert await timer.tick() == (0, 1)
    assert await timer.tick() == (0, 0)
    clock.now = utc("2026-11-03T06:00:00")
    assert await timer.tick() == (0, 1)
    clock.now = utc("2026-11-03T23:59:59")
    assert await timer.tick() == (0, 0)

    reminders = [e for e in await month.events() if e["type"] == "lmp.report.deadline-reminder"]
    assert [r["data"]["days_before"] for r in reminders] == [3, 1]
    # Line A: provisioned 15, chargeable 13, no comment -> 2 units x 10.00 x (1 - 0.20).
    assert reminders[0]["data"]["unexplained_lines"] == [
        {
            "product_id": PRODUCT_A,
            "provisioned_units": 15,
            "chargeable_units": 13,
            "penalty_units": 2,
            "amount": "16.00",
        }
    ]
    assert reminders[0]["data"]["penalty_preview_amount"] == "16.00"

    clock.now = DEADLINE
    assert await timer.tick() == (1, 0)
    assert await timer.tick() == (0, 0)

    submitted = [e for e in await month.events() if e["type"] == "lmp.report.submitted"]
    assert len(submitted) == 1
    assert submitted[0]["data"]["submission_kind"] == "automatic_with_penalties"
    assert submitted[0]["data"]["status"] == "under_review"
    penalties = await month.events("lmp.penalties.v1")
    assert len(penalties) == 1
    assert penalties[0]["type"] == "lmp.penalty.assessed"
    assert penalties[0]["data"]["amount_added"] == "16.00"
    assert penalties[0]["data"]["lines"] == [
        {
            "product_id": PRODUCT_A,
            "provisioned_units": 15,
            "used_units": 13,
            "chargeable_before": 13,
            "chargeable_after": 15,
            "units_added": 2,
            "amount_added": "16.00",
        }
    ]
    # As every outbound record: structured mode with its content type (issue 15). Kafka
    # delivers at least once, so the relay and the sweep may both have sent the penalty:
    # every copy carries the same bytes.
    records = [
        r
        for r in await running.read_all("lmp.penalties.v1")
        if r["value"]["subject"] == month.report_id
    ]
    assert records
    assert len({r["raw"] for r in records}) == 1
    for record in records:
        assert dict(record["headers"])["content-type"] == STRUCTURED_CONTENT_TYPE.encode()
        message = KafkaMessage(dict(record["headers"]), record["key"], record["raw"])
        assert from_kafka(message, JSONFormat()).get_data() == penalties[0]["data"]
    doc = await month.report()
    assert doc is not None
    assert (doc["status"], doc["submission_kind"], doc["needs_review"]) == (
        "under_review",
        "automatic_with_penalties",
        True,
    )
    a = next(x for x in doc["lines"] if x["product_id"] == PRODUCT_A)
    b = next(x for x in doc["lines"] if x["product_id"] == PRODUCT_B)
    assert (a["chargeable_units"], a["penalty_units"], a["subtotal"]) == (15, 2, "120.00")
    assert (b["chargeable_units"], b["penalty_units"], b["subtotal"]) == (4, 0, "72.00")
    assert doc["total_amount"] == "192.00"
    assert doc["history"][-1]["actor_kind"] == "timer"
    # Published, then cleared: by the next write, or by its processor within the grace.
    await month.report_where(lambda d: d["outbox"] == [], timeout=30)


async def test_automatic_submission_without_penalties_when_everything_is_explained(
    running: System,
) -> None:
    await clean_database(running)
    clock = Clock()
    month = Month(running, auto_submit_days=3)
    await month.open(datetime.now(UTC))
    draft = await month.partner_does(
        "draft-saved", {"lines": [{"product_id": PRODUCT_A, "comment": "seats on hold"}]}
    )
    await month.event_caused_by(draft, "lmp.report.draft-saved")
    timer = DeadlineTimer(await running.runtime("timer", clock))

    clock.now = utc("2026-11-02T00:00:00")
    assert await timer.tick() == (0, 1)
    reminder = [e for e in await month.events() if e["type"] == "lmp.report.deadline-reminder"]
    assert reminder[0]["data"]["unexplained_lines"] == []
    assert reminder[0]["data"]["penalty_preview_amount"] == "0.00"

    clock.now = utc("2026-11-05T09:00:00")
    assert await timer.tick() == (1, 0)
    submitted = [e for e in await month.events() if e["type"] == "lmp.report.submitted"]
    assert [e["data"]["submission_kind"] for e in submitted] == ["automatic"]
    assert await month.events("lmp.penalties.v1") == []
    doc = await month.report()
    assert doc is not None
    assert (doc["status"], doc["needs_review"]) == ("under_review", False)
    a = next(x for x in doc["lines"] if x["product_id"] == PRODUCT_A)
    assert (a["chargeable_units"], a["penalty_units"]) == (13, 0)


async def test_racing_timers_auto_submit_each_report_exactly_once(running: System) -> None:
    await clean_database(running)
    partners = [f"{running.namespace}race-{i}" for i in range(40)]
    accounts = [
        (
            p.encode(),
            cloud_event(
                "lmp.account.partner",
                {
                    "partner_id": p,
                    "name": p,
                    "distributor_id": "D-race",
                    "region": "EMEA",
                    "currency": "EUR",
                    "auto_submit_days": 3,
                },
            ),
        )
        for p in partners
    ]
    usage = [
        (
            p.encode(),
            cloud_event(
                "lmp.usage.reported",
                {
                    "partner_id": p,
                    "cycle": CYCLE,
                    "product_id": PRODUCT_A,
                    "subscription_id": "s1",
                    "provisioned_units": 7,
                    "used_units": 5,
                    "observed_at": "2026-10-10T00:00:00Z",
                },
            ),
        )
        for p in partners
    ]
    await running.publish("lmp.accounts.v1", accounts)
    await running.publish("lmp.usage.v1", usage)

    async def all_open() -> bool:
        open_reports: int = await running.store.reports.count_documents(
            {"partner_id": {"$in": partners}, "account_pending": False}
        )
        return open_reports == 40

    await eventually(all_open)
    clock = Clock()
    clock.now = DEADLINE
    timers = [DeadlineTimer(await running.runtime(f"timer-{i}", clock)) for i in range(2)]
    results = await asyncio.gather(*(t.tick() for t in timers))
    assert sum(submitted for submitted, _ in results) == 40

    docs = await running.store.reports.find({"partner_id": {"$in": partners}}).to_list(None)
    for doc in docs:
        history = await whole_history(running.store, doc)
        autos = [h for h in history if h["action"] == "auto-submitted"]
        assert len(autos) == 1, doc["_id"]
        assert doc["submission_kind"] == "automatic_with_penalties"
    submitted_events = [
        r["value"]
        for r in await running.read_all("lmp.report-events.v1")
        if r["value"]["type"] == "lmp.report.submitted"
        and r["value"]["data"]["partner_id"] in partners
    ]
    assert len({e["id"] for e in submitted_events}) == 40
    penalties = [
        r["value"]
        for r in await running.read_all("lmp.penalties.v1")
        if r["value"]["data"]["partner_id"] in partners
    ]
    assert len({e["id"] for e in penalties}) == 40
