"""Partner and distributor actions and the timer's pass through the unit of work, on
the in-memory store: an answer is decided once and given again byte for byte, an
action on a missing report stays refused once it exists, and the timer reminds and
auto-submits each report once. The e2e and fault tests check the same on real servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.report import Report
from services.adapters.counters import AUTO_SUBMITTED, REFUSED, REMINDERS_SENT, TIMER_SKIPPED
from services.processors import actions
from services.processors.timer import DeadlineTimer
from tests.builders import CYCLE, action
from tests.fakes import Shell
from tests.unit.in_memory import (
    DEADLINE,
    EVENTS,
    EXPLAINED,
    PARTNER_ACTIONS,
    REPORT,
    caused_by,
    handle,
    open_report,
    raw_values,
    report,
)

pytestmark = pytest.mark.unit


async def test_an_applied_action_is_recorded_and_answered_the_same_when_redelivered() -> None:
    shell = Shell()
    await open_report(shell)
    draft = action("lmp.partner.draft-saved", "P", "P", id_="a1", lines=EXPLAINED)
    assert await handle(shell, "partner-actions", draft) == []
    [event] = caused_by(shell, "a1")
    assert event["type"] == "lmp.report.draft-saved"
    saved = await report(shell)
    assert saved.lines[0].partner_comment == "explained"
    assert [(d.message_id, d.outcome) for d in saved.decisions] == [("a1", "applied")]

    other = action("lmp.partner.draft-saved", "P", "P", id_="a2", lines=[])
    assert await handle(shell, "partner-actions", other) == []
    assert await handle(shell, "partner-actions", draft) == []  # redelivered after a change
    [first, again] = raw_values(shell, event["id"])
    assert first == again
    assert [d.message_id for d in (await report(shell)).decisions] == ["a1", "a2"]


async def test_a_reused_action_id_with_another_payload_is_a_conflict() -> None:
    shell = Shell()
    await open_report(shell)
    await handle(shell, "partner-actions", action("lmp.partner.draft-saved", "P", "P", id_="a1"))
    changed = action("lmp.partner.draft-saved", "P", "P", id_="a1", lines=EXPLAINED)
    poisons = await handle(shell, "partner-actions", changed)
    assert [(p.kind, p.message_id) for p in poisons] == [("conflict", "a1")]
    assert (await report(shell)).lines[0].partner_comment is None


async def test_a_refusal_is_published_counted_and_kept_as_the_answer() -> None:
    shell = Shell()
    await open_report(shell)
    submit = action("lmp.partner.report-submitted", "P", "P", id_="s1")
    runtime = shell.runtime("partner-actions")
    processor = actions.PARTNER_ACTIONS.handler(runtime)
    assert await processor.handle([shell.message(PARTNER_ACTIONS, submit)]) == []
    [refusal] = caused_by(shell, "s1")
    assert refusal["type"] == "lmp.action.rejected"
    assert refusal["id"] == f"{REPORT}/action-rejected/s1"
    assert "unexplained" in refusal["data"]["reason"]
    assert runtime.counters.take()[(shell.catalogue.physical(PARTNER_ACTIONS), REFUSED)] == 1
    stored = await report(shell)
    assert (stored.status, stored.decisions) == ("msp_preparing", [])
    key = f"{PARTNER_ACTIONS}|s1"
    kept = await shell.store.load_outcomes([key])
    assert (kept[key].report_id, kept[key].decision.outcome) == (REPORT, "refused")

    await handle(
        shell,
        "partner-actions",
        action("lmp.partner.draft-saved", "P", "P", id_="d1", lines=EXPLAINED),
    )
    assert await handle(shell, "partner-actions", submit) == []  # now it would pass...
    [first, again] = raw_values(shell, refusal["id"])  # ...but the answer was given
    assert first == again
    assert (await report(shell)).status == "msp_preparing"


async def test_an_action_on_a_missing_report_stays_refused_once_the_report_exists() -> None:
    shell = Shell()
    early = action("lmp.partner.draft-saved", "P", "P", id_="early", lines=EXPLAINED)
    assert await handle(shell, "partner-actions", early) == []
    [refusal] = caused_by(shell, "early")
    assert "does not exist" in refusal["data"]["reason"]
    key = f"{PARTNER_ACTIONS}|early"
    assert set(await shell.store.load_outcomes([key])) == {key}

    await open_report(shell)
    assert await handle(shell, "partner-actions", early) == []
    [first, again] = raw_values(shell, refusal["id"])
    assert first == again
    adopted = await report(shell)
    assert adopted.decisions == []  # the refusal stays where it was kept
    assert adopted.lines[0].partner_comment is None


async def test_a_report_goes_from_the_partner_to_its_distributor_to_trend_micro() -> None:
    shell = Shell()
    await open_report(shell)
    submit = action("lmp.partner.report-submitted", "P", "P", id_="p1", lines=EXPLAINED)
    assert await handle(shell, "partner-actions", submit) == []
    assert (await report(shell)).status == "under_review"
    stranger = action(
        "lmp.distributor.submitted-to-trendmicro", "P", "D9", id_="x1", po_number="PO"
    )
    assert await handle(shell, "distributor-actions", stranger) == []
    [refusal] = caused_by(shell, "x1")
    assert refusal["type"] == "lmp.action.rejected"
    to_tm = action("lmp.distributor.submitted-to-trendmicro", "P", "D1", id_="d1", po_number="PO-1")
    assert await handle(shell, "distributor-actions", to_tm) == []
    [billing] = shell.events("lmp.trendmicro-submissions.v1")
    assert (billing["type"], billing["subject"]) == ("lmp.billing.submitted", REPORT)
    assert (await report(shell)).po_number == "PO-1"
    done = action("lmp.trendmicro.report-completed", "P", "trendmicro", id_="t1", reference="R")
    assert await handle(shell, "trendmicro-responses", done) == []
    final = await report(shell)
    assert final.status == "completed"
    assert [(d.message_id, d.outcome) for d in final.decisions] == [
        ("p1", "applied"),
        ("d1", "applied"),
        ("t1", "applied"),
    ]
    assert set(await shell.store.load_outcomes(["lmp.distributor-actions.v1|x1"]))


async def test_the_timer_reminds_then_auto_submits_each_report_once() -> None:
    shell = Shell()
    await open_report(shell)
    runtime = shell.runtime("timer")
    timer = DeadlineTimer(runtime)
    shell.now = DEADLINE - timedelta(days=2)
    assert await timer.tick() == (0, 1)
    assert await timer.tick() == (0, 0)
    shell.now = DEADLINE + timedelta(hours=1)
    assert await timer.tick() == (1, 0)
    assert await timer.tick() == (0, 0)
    submitted = await report(shell)
    assert (submitted.status, submitted.submission_kind) == (
        "under_review",
        "automatic_with_penalties",
    )
    assert submitted.lines[0].chargeable_units == 10
    counted = runtime.counters.take()
    assert (counted[("", AUTO_SUBMITTED)], counted[("", REMINDERS_SENT)]) == (1, 1)
    assert [e["type"] for e in shell.events(EVENTS)] == [
        "lmp.report.opened",
        "lmp.report.deadline-reminder",
        "lmp.report.submitted",
    ]
    [penalty] = shell.events("lmp.penalties.v1")
    assert penalty["subject"] == REPORT


async def test_reports_the_timer_cannot_process_never_hide_the_others() -> None:
    shell = Shell(now=DEADLINE)
    opened = datetime(2026, 10, 20, tzinfo=UTC)
    reports = [
        Report.model_validate(
            {
                "_id": f"T{i}:{CYCLE}",
                "partner_id": f"T{i}",
                "cycle": CYCLE,
                "created_at": opened,
                "updated_at": opened,
                "account_pending": False,
                "currency": "EUR",
                "region": "EMEA",
                "deadline": DEADLINE,
                "lines": [
                    {
                        "product_id": "AV",
                        "subscriptions": [{"subscription_id": "s", "provisioned_units": 5}],
                        "provisioned_units": 5,
                        "chargeable_units": 5,
                        "unit_price": "1E+30" if i % 2 == 0 else "2.00",  # bad data
                        "channel_margin": "0",
                    }
                ],
            }
        )
        for i in range(7)
    ]
    assert await shell.store.save_reports([(r, None) for r in reports]) == set()
    runtime = shell.runtime("timer")
    submitted, _ = await DeadlineTimer(runtime, page_size=2).tick()
    assert submitted == 3
    statuses = {
        r.id: r.status for r in (await shell.store.load_reports(r.id for r in reports)).values()
    }
    assert sorted(rid for rid, s in statuses.items() if s == "under_review") == [
        f"T{i}:{CYCLE}" for i in (1, 3, 5)
    ]
    assert runtime.counters.take()[("", TIMER_SKIPPED)] == 4
