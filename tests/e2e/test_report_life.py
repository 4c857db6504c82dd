"""A report's whole life over the real broker and database, processors as processes.

Every processor but the timer runs as its own process, as in production. The timer's
scenarios are in test_deadlines_e2e.py, on an injected clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.harness import System, eventually, whole_history
from tests.scenario import PRODUCT_A, PRODUCT_B, Month

pytestmark = pytest.mark.e2e

PROCESSORS = (
    "usage",
    "accounts",
    "pricing",
    "partner-actions",
    "distributor-actions",
    "trendmicro-responses",
)


async def opened(system: System, **kwargs: Any) -> Month:
    month = Month(system, **kwargs)
    await month.open(datetime.now(UTC))
    return month


def line(doc: dict[str, Any], product: str) -> dict[str, Any]:
    found: dict[str, Any] = next(x for x in doc["lines"] if x["product_id"] == product)
    return found


async def test_happy_path_from_usage_to_completion(running: System) -> None:
    month = await opened(running)
    first = await month.report()
    assert first is not None
    assert first["status"] == "msp_preparing"
    a, b = line(first, PRODUCT_A), line(first, PRODUCT_B)
    assert (a["provisioned_units"], a["used_units"], a["chargeable_units"]) == (15, 13, 13)
    assert a["discrepancy"] is True
    assert (b["provisioned_units"], b["used_units"], b["chargeable_units"]) == (4, None, 4)
    assert b["discrepancy"] is False

    draft = await month.partner_does(
        "draft-saved",
        {"lines": [{"product_id": PRODUCT_A, "comment": "two seats held for onboarding"}]},
    )
    await month.event_caused_by(draft, "lmp.report.draft-saved")
    submit = await month.partner_does("report-submitted")
    event = await month.event_caused_by(submit, "lmp.report.submitted")
    assert event["data"]["status"] == "under_review"
    assert event["data"]["submission_kind"] == "manual"

    review = await month.distributor_does(
        "draft-saved",
        {
            "po_number": "PO-100",
            "lines": [
                {"product_id": PRODUCT_A, "promo_code": month.code, "unit_price": "9.50"},
                {"product_id": PRODUCT_B, "promo_code": month.code, "channel_margin": "0.25"},
            ],
        },
    )
    await month.event_caused_by(review, "lmp.report.draft-saved")
    to_tm = await month.distributor_does(
        "submitted-to-trendmicro", {"comment": "Q4 promotion applied"}
    )
    await month.event_caused_by(to_tm, "lmp.report.submitted-to-trendmicro")
    returned = await month.trendmicro_does("report-returned", {"reason": "PO number is wrong"})
    event = await month.event_caused_by(returned, "lmp.report.returned")
    assert event["data"]["reasons"] == ["PO number is wrong"]
    again = await month.distributor_does("submitted-to-trendmicro", {"po_number": "PO-101"})
    await month.event_caused_by(again, "lmp.report.submitted-to-trendmicro")
    done = await month.trendmicro_does("report-completed", {"reference": "TM-42"})
    await month.event_caused_by(done, "lmp.report.completed")

    # Every outbound report event, in order on the report's partition.
    events = await month.events()
    assert [e["type"].removeprefix("lmp.report.") for e in events] == [
        "opened",
        "draft-saved",
        "submitted",
        "draft-saved",
        "submitted-to-trendmicro",
        "returned",
        "submitted-to-trendmicro",
        "completed",
    ]
    versions = [e["data"]["version"] for e in events]
    assert versions == sorted(versions)

    # Both submissions carry the whole billing report:
    # A: 13 x 9.50 x (1 - 0.20) = 98.80; B: 4 x 20.00 x (1 - 0.25) = 60.00.
    billing = await eventually(
        lambda: _two(month.events("lmp.trendmicro-submissions.v1")), timeout=30
    )
    assert [b["data"]["po_number"] for b in billing] == ["PO-100", "PO-101"]
    first_bill = billing[0]["data"]
    assert first_bill["comments_to_trendmicro"] == "Q4 promotion applied"
    assert first_bill["submission_kind"] == "manual"
    assert first_bill["currency"] == "EUR"
    assert first_bill["total_amount"] == "158.80"
    bill_a = next(x for x in first_bill["lines"] if x["product_id"] == PRODUCT_A)
    assert bill_a == {
        "product_id": PRODUCT_A,
        "provisioned_units": 15,
        "used_units": 13,
        "overprovisioned_pct": bill_a["overprovisioned_pct"],
        "chargeable_units": 13,
        "partner_comment": "two seats held for onboarding",
        "unit_price": "9.50",
        "channel_margin": "0.20",
        "promo_code": month.code,
        "subtotal": "98.80",
    }
    assert bill_a["overprovisioned_pct"] is not None
    bill_b = next(x for x in first_bill["lines"] if x["product_id"] == PRODUCT_B)
    assert (bill_b["unit_price"], bill_b["channel_margin"], bill_b["subtotal"]) == (
        "20.00",
        "0.25",
        "60.00",
    )

    # The outbox is emptied in a write of its own once the events are published.
    final = await month.report_where(lambda doc: doc["outbox"] == [])
    assert final["status"] == "completed"
    assert final["po_number"] == "PO-101"
    assert final["total_amount"] == "158.80"
    assert final["outbox"] == []
    history = await whole_history(running.store, final)
    assert [(h["action"], h["actor_kind"], h.get("to_status")) for h in history][-7:] == [
        ("lmp.partner.draft-saved", "partner", "msp_preparing"),
        ("lmp.partner.report-submitted", "partner", "under_review"),
        ("lmp.distributor.draft-saved", "distributor", "under_review"),
        ("lmp.distributor.submitted-to-trendmicro", "distributor", "submitted_to_trendmicro"),
        ("lmp.trendmicro.report-returned", "trendmicro", "returned_by_trendmicro"),
        ("lmp.distributor.submitted-to-trendmicro", "distributor", "submitted_to_trendmicro"),
        ("lmp.trendmicro.report-completed", "trendmicro", "completed"),
    ]
    actions = [draft, submit, review, to_tm, returned, again, done]
    assert [h["message_id"] for h in history][-7:] == actions
    times = [h["at"] for h in history]
    assert times == sorted(times)


async def _two(found: Any) -> list[dict[str, Any]] | None:
    events: list[dict[str, Any]] = await found
    return events if len(events) >= 2 else None


async def test_rejected_then_fixed_and_resubmitted(running: System) -> None:
    month = await opened(running)
    await month.event_caused_by(
        await month.partner_does(
            "report-submitted",
            {"lines": [{"product_id": PRODUCT_A, "comment": "trial seats"}]},
        ),
        "lmp.report.submitted",
    )
    reject = await month.distributor_does(
        "report-rejected", {"reasons": ["  ", "trial seats are chargeable"]}
    )
    event = await month.event_caused_by(reject, "lmp.report.rejected")
    assert event["data"]["reasons"] == ["trial seats are chargeable"]
    assert event["data"]["status"] == "rejected"
    rejected = await month.report()
    assert rejected is not None
    assert rejected["rejection_reasons"] == ["trial seats are chargeable"]
    assert rejected["deadline"] > rejected["history"][-1]["at"].replace(microsecond=0)
    # The new deadline is set from "now": the event says exactly what the database keeps.
    assert datetime.fromisoformat(event["data"]["deadline"]) == rejected["deadline"]
    assert datetime.fromisoformat(event["time"]) == rejected["history"][-1]["at"]

    fix = await month.partner_does(
        "draft-saved", {"lines": [{"product_id": PRODUCT_A, "chargeable_units": 15}]}
    )
    await month.event_caused_by(fix, "lmp.report.draft-saved")
    resubmit = await month.partner_does("report-submitted")
    event = await month.event_caused_by(resubmit, "lmp.report.submitted")
    assert event["data"]["status"] == "under_review"
    final = await month.report()
    assert final is not None
    assert line(final, PRODUCT_A)["chargeable_units"] == 15
    assert [h["to_status"] for h in await whole_history(running.store, final)][-4:] == [
        "under_review",
        "rejected",
        "rejected",
        "under_review",
    ]


async def test_every_refusal_is_published_with_a_reason_and_nothing_stops(
    running: System,
) -> None:
    month = await opened(running)
    other = await opened(running)
    refusals: dict[str, str] = {}

    refusals[await month.distributor_does("draft-saved", {"po_number": "PO-1"})] = (
        "cannot save the billing report: the report is"
    )
    refusals[await month.partner_does("report-submitted")] = (
        f"every discrepancy needs a comment before submission; unexplained: {PRODUCT_A}"
    )
    stranger, record = month.action("lmp.partner.draft-saved", other.partner)
    await running.publish("lmp.partner-actions.v1", [record])
    refusals[stranger] = f"partner {other.partner} may not act on {month.partner}'s report"

    submit = await month.partner_does(
        "report-submitted", {"lines": [{"product_id": PRODUCT_A, "comment": "explained"}]}
    )
    await month.event_caused_by(submit, "lmp.report.submitted")

    refusals[await month.distributor_does("draft-saved", {}, account=month.other_distributor)] = (
        f"distributor {month.other_distributor} does not review reports of partner"
    )
    refusals[await month.distributor_does("submitted-to-trendmicro", {})] = (
        "a PO number is required to submit to Trend Micro"
    )
    for code, reason in (
        ("NO-SUCH-CODE", "promotional code 'NO-SUCH-CODE' does not exist"),
        (f"{month.code}-OLD", f"promotional code '{month.code}-OLD' expired on"),
        (f"{month.code}-APAC", f"promotional code '{month.code}-APAC' belongs to region APAC"),
    ):
        action = await month.distributor_does(
            "draft-saved", {"lines": [{"product_id": PRODUCT_A, "promo_code": code}]}
        )
        refusals[action] = reason
    refusals[
        await month.distributor_does(
            "draft-saved", {"lines": [{"product_id": PRODUCT_A, "unit_price": "1.00"}]}
        )
    ] = f"unit price of {PRODUCT_A} is locked: verify a promotional code for the line first"
    refusals[
        await month.distributor_does(
            "draft-saved",
            {
                "lines": [
                    {"product_id": PRODUCT_A, "promo_code": month.code, "channel_margin": "0.5"}
                ]
            },
        )
    ] = "a promotional code unlocks the unit price, not the channel margin"
    refusals[await month.distributor_does("report-rejected", {"reasons": [" "]})] = (
        "a rejection needs at least one reason for the partner"
    )
    refusals[await month.trendmicro_does("report-completed")] = (
        "cannot complete the report: the report is"
    )
    ghost_id, ghost = month.action(
        "lmp.partner.draft-saved", month.partner, id_=f"ghost-{month.partner}"
    )
    ghost_body = ghost[1].replace(month.report_id.encode(), f"{month.partner}:2019-01".encode())
    await running.publish("lmp.partner-actions.v1", [(ghost[0], ghost_body)])

    for action_id, reason in refusals.items():
        assert reason in await month.refusal(action_id), action_id
        event = await month.event_caused_by(action_id, "lmp.action.rejected")
        assert event["data"]["action_id"] == action_id

    async def ghost_refused() -> dict[str, Any] | None:
        for rec in await running.read_all("lmp.report-events.v1"):
            if rec["value"]["data"].get("action_id") == ghost_id:
                return dict(rec["value"]["data"])
        return None

    ghost_refusal = await eventually(ghost_refused)
    assert ghost_refusal["reason"] == f"report {month.partner}:2019-01 does not exist"

    # After all of that the processors still work and nothing changed the report.
    still = await month.report()
    assert still is not None
    assert still["status"] == "under_review"
    assert still["po_number"] is None
    assert line(still, PRODUCT_A)["promo_code"] is None
    ok = await month.distributor_does("submitted-to-trendmicro", {"po_number": "PO-OK"})
    await month.event_caused_by(ok, "lmp.report.submitted-to-trendmicro")


async def test_malformed_actions_are_dead_lettered_and_the_next_action_applies(
    running: System,
) -> None:
    month = await opened(running)
    await running.publish(
        "lmp.partner-actions.v1",
        [
            (month.report_id.encode(), b"{not json"),
            month.action("lmp.partner.draft-saved", month.partner, {"lines": "no"})[1],
        ],
    )
    fine = await month.partner_does(
        "draft-saved", {"lines": [{"product_id": PRODUCT_B, "comment": "ok"}]}
    )
    await month.event_caused_by(fine, "lmp.report.draft-saved")

    async def dead() -> list[dict[str, Any]] | None:
        letters = [
            r["value"]["data"]
            for r in await running.read_all("lmp.dead-letter.v1")
            if r["value"]["data"]["key"] == month.report_id
        ]
        return letters if len(letters) >= 2 else None

    letters = await eventually(dead)
    assert sorted(x["error_kind"] for x in letters) == ["parse", "schema"]
    assert all(x["processor"] == "partner-actions" for x in letters)


async def test_late_usage_after_submission_is_kept_flagged_and_announced(
    running: System,
) -> None:
    month = await opened(running)
    submit = await month.partner_does(
        "report-submitted", {"lines": [{"product_id": PRODUCT_A, "comment": "ok"}]}
    )
    await month.event_caused_by(submit, "lmp.report.submitted")
    await running.publish("lmp.usage.v1", [month.usage(PRODUCT_A, "sub-a1", 25, 20)])

    async def late() -> dict[str, Any] | None:
        found = [e for e in await month.events() if e["type"] == "lmp.report.late-usage"]
        return found[0] if found else None

    event = await eventually(late)
    assert event["data"]["subscription_id"] == "sub-a1"
    assert event["data"]["provisioned_units"] == 25
    assert event["data"]["status"] == "under_review"
    doc = await month.report()
    assert doc is not None
    a = line(doc, PRODUCT_A)
    assert a["late_usage"] is True
    assert a["provisioned_units"] == 15
    sub = next(s for s in a["subscriptions"] if s["subscription_id"] == "sub-a1")
    assert (sub["late_provisioned_units"], sub["late_used_units"]) == (25, 20)


async def test_duplicate_applies_once_and_conflicting_duplicate_is_quarantined(
    running: System,
) -> None:
    month = await opened(running)
    edit = {"lines": [{"product_id": PRODUCT_A, "comment": "first"}]}
    action_id, record = month.action("lmp.partner.draft-saved", month.partner, edit)
    await running.publish("lmp.partner-actions.v1", [record, record])
    await month.event_caused_by(action_id, "lmp.report.draft-saved")
    before = await month.report()
    assert before is not None

    changed = {"lines": [{"product_id": PRODUCT_A, "comment": "second"}]}
    _, conflicting = month.action("lmp.partner.draft-saved", month.partner, changed, id_=action_id)
    await running.publish("lmp.partner-actions.v1", [record, conflicting])
    marker = await month.partner_does("draft-saved", {})
    await month.event_caused_by(marker, "lmp.report.draft-saved")

    async def quarantined() -> dict[str, Any] | None:
        for r in await running.read_all("lmp.dead-letter.v1"):
            if r["value"]["data"].get("message_id") == action_id:
                return dict(r["value"]["data"])
        return None

    letter = await eventually(quarantined)
    assert letter["error_kind"] == "conflict"
    after = await month.report()
    assert after is not None
    assert line(after, PRODUCT_A)["partner_comment"] == "first"
    assert after["version"] == before["version"] + 1  # only the marker
    saved = [e for e in await month.events() if e["data"].get("caused_by") == action_id]
    assert len(saved) == 1
    history = await whole_history(running.store, after)
    assert [h["message_id"] for h in history].count(action_id) == 1


async def test_a_partner_without_access_to_usage_reports_cannot_act_on_its_report(
    running: System,
) -> None:
    month = await opened(running, usage_reports=False)
    doc = await month.report()
    assert doc is not None
    assert (doc["partner_review"], doc["next_reminder_at"]) == (False, None)
    assert doc["deadline"] is not None
    refused = await month.partner_does(
        "report-submitted", {"lines": [{"product_id": PRODUCT_A, "comment": "ok"}]}
    )
    assert "no access to usage reports" in await month.refusal(refused)
