"""A flood on one report: its document stays bounded and every answer stays the first.

Thirty thousand partner actions from the wrong partner (refused) and five thousand draft
saves of the right one (applied), interleaved and published in bulk on one report; then
usage, the partner's submission, a distributor review (a draft and a rejection) and the
timer's automatic submission at the rejection's deadline, each through its processor.
Every action must have its expected answer, the flood's first refusal, first and last
draft must be answered again byte for byte when redelivered, no event id may have two
payloads, the report's document must stay under 256 KiB throughout and its history must
read back whole (issue 16, docs/bounded-reports.md).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import bson
import pytest

from tests.faults.ledger import Counts, dead_letters, ids_with_two_payloads, payloads_by_id
from tests.harness import System, eventually, unique
from tests.scenario import PRODUCT_A, Month

pytestmark = pytest.mark.faults

REFUSED = int(os.environ.get("LMP_FLOOD_REFUSED", "30000"))
APPLIED = int(os.environ.get("LMP_FLOOD_APPLIED", "5000"))
BOUND = 256 * 1024
PROCESSORS = ("accounts", "pricing", "usage", "partner-actions", "distributor-actions")


async def answered(system: System, report_id: str) -> tuple[int, int, int]:
    """(refusals kept, applied answers recorded, the document's BSON size)."""
    doc = await system.store.reports.find_one({"_id": report_id})
    assert doc is not None
    refused = await system.store.outcomes.count_documents({"report_id": report_id})
    applied = doc.get("decisions_archived", 0) + len(doc["decisions"])
    return refused, applied, len(bson.encode(doc))


async def first_copies(system: System, event_ids: list[str]) -> dict[str, set[bytes]]:
    payloads = await payloads_by_id(system, ("lmp.report-events.v1",))
    return {event_id: payloads.get(event_id, set()) for event_id in event_ids}


async def copies(system: System, event_id: str) -> list[bytes]:
    return [
        r["raw"]
        for r in await system.read_all("lmp.report-events.v1", timeout=10.0)
        if r["value"] is not None and r["value"]["id"] == event_id
    ]


async def test_a_flood_on_one_report_leaves_it_bounded_and_every_answer_the_first(
    faulty: System,
) -> None:
    system = faulty
    await system.run_processors(PROCESSORS)
    month = Month(system, auto_submit_days=0)  # a rejection's deadline is its moment
    await month.open(datetime.now(UTC))
    stranger = unique("P-")
    refusals = [
        month.action(
            "lmp.partner.draft-saved",
            stranger,
            {"lines": [{"product_id": PRODUCT_A, "comment": "not mine"}]},
            id_=f"no-{n}-{unique('')}",
        )
        for n in range(REFUSED)
    ]
    drafts = [
        month.action(
            "lmp.partner.draft-saved",
            month.partner,
            {"lines": [{"product_id": PRODUCT_A, "comment": f"draft {n}"}]},
            id_=f"ok-{n}-{unique('')}",
        )
        for n in range(APPLIED)
    ]
    every = max(1, REFUSED // max(APPLIED, 1))
    flood: list[tuple[bytes | None, bytes]] = []
    for n, (_, record) in enumerate(refusals):
        flood.append(record)
        if n % every == every - 1 and n // every < APPLIED:
            flood.append(drafts[n // every][1])
    flood += [record for _, record in drafts[len(flood) - REFUSED :]]
    assert len(flood) == REFUSED + APPLIED

    started = time.monotonic()
    largest = 0
    for start in range(0, len(flood), 5000):
        await system.publish("lmp.partner-actions.v1", flood[start : start + 5000])
    published = time.monotonic() - started

    async def flood_answered() -> bool:
        nonlocal largest
        refused, applied, size = await answered(system, month.report_id)
        largest = max(largest, size)
        assert not system.dead_processors(), system.dead_processors()
        return refused == REFUSED and applied == APPLIED

    await eventually(flood_answered, timeout=240, interval=0.5)
    flooded = time.monotonic() - started

    # Usage, the partner's submission, the distributor's review, then the timer.
    await system.publish("lmp.usage.v1", [month.usage(PRODUCT_A, "sub-a3", 3, 3)])
    await month.report_where(
        lambda r: any(
            line["product_id"] == PRODUCT_A and line["provisioned_units"] == 18
            for line in r["lines"]
        )
    )
    explain = {"lines": [{"product_id": PRODUCT_A, "comment": "explained"}]}
    submit = await month.partner_does("report-submitted", explain)
    await month.event_caused_by(submit, "lmp.report.submitted")
    review = await month.distributor_does("draft-saved", {"po_number": "PO-FLOOD"})
    await month.event_caused_by(review, "lmp.report.draft-saved")
    reject = await month.distributor_does("report-rejected", {"reasons": ["check line A"]})
    await month.event_caused_by(reject, "lmp.report.rejected")
    system.start_processor("timer")
    await month.report_where(
        lambda r: (
            r["status"] == "under_review" and (r["submission_kind"] or "").startswith("automatic")
        ),
        timeout=90,
    )

    # Redeliveries after the flood: the same bytes as the first answers.
    first_refusal = f"{month.report_id}/action-rejected/{refusals[0][0]}"
    first_draft = f"{month.report_id}/draft-saved/{drafts[0][0]}"
    last_draft = f"{month.report_id}/draft-saved/{drafts[-1][0]}"
    before = await first_copies(system, [first_refusal, first_draft, last_draft])
    assert all(len(v) == 1 for v in before.values()), before
    again = [refusals[0][1], drafts[0][1], drafts[-1][1], refusals[-1][1]]
    await system.publish("lmp.partner-actions.v1", again)

    async def redelivered() -> bool:
        found = [len(await copies(system, event_id)) for event_id in before]
        return all(n >= 2 for n in found)

    await eventually(redelivered, timeout=60)
    for event_id, first in before.items():
        assert set(await copies(system, event_id)) == first, event_id

    refused, applied, size = await answered(system, month.report_id)
    largest = max(largest, size)
    doc = await system.store.reports.find_one({"_id": month.report_id})
    assert doc is not None
    report = await system.store.read_report(month.report_id)
    assert report is not None
    drafted = [
        e.message_id for e in report.history if e.message_id and e.message_id.startswith("ok-")
    ]
    assert drafted == [draft_id for draft_id, _ in drafts]
    payloads = await payloads_by_id(system)
    letters = await dead_letters(system)
    counts = Counts(
        sent=REFUSED + APPLIED + 3,  # the flood, the submission, the review's draft, rejection
        applied=applied,
        refused=refused,
        dead_lettered=len(letters),
        lost=(REFUSED - refused) + (APPLIED + 3 - applied),
        duplicate_id_different_payload=len(ids_with_two_payloads(payloads)),
    )
    counts.show(
        "flood on one report",
        published_s=f"{published:.1f}",
        answered_s=f"{flooded:.1f}",
        largest_document_bytes=largest,
        final_document_bytes=size,
        inline_answers=len(doc["decisions"]),
        moved_answers=doc.get("decisions_archived", 0),
        inline_history=len(doc["history"]),
        moved_history=doc.get("history_archived", 0),
    )
    counts.assert_sound()
    assert letters == []
    assert largest < BOUND, largest
    assert applied == APPLIED + 3
    assert refused == REFUSED
