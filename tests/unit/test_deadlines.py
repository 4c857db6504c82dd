"""Reminders before the deadline and automatic submission with and without penalties."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from schemas.report import ReportStatus, SubmissionKind
from services.domain.reminders import auto_submit, remind
from services.domain.workflow import decide
from tests.unit.workflow_data import ACTIONS, PRICES, ctx, opened_report

pytestmark = pytest.mark.unit


def test_reminders_are_sent_three_days_and_one_day_before_once_each() -> None:
    report = opened_report()
    deadline = report.deadline
    assert deadline is not None
    assert report.next_reminder_at == deadline - timedelta(days=3)
    assert remind(report, deadline - timedelta(days=4), PRICES).events == []
    three = remind(report, deadline - timedelta(days=3), PRICES)
    assert [e.id for e in three.events] == [
        f"{report.id}/deadline-reminder/{deadline.isoformat()}/3"
    ]
    data = three.events[0].data
    assert data.days_before == 3  # type: ignore[attr-defined]
    # AV: 100 provisioned, 80 used and chargeable -> 20 units x 2.50 x 0.8 = 40.00
    assert data.penalty_preview_amount == Decimal("40.00")  # type: ignore[attr-defined]
    assert three.report.next_reminder_at == deadline - timedelta(days=1)
    assert remind(three.report, deadline - timedelta(days=2), PRICES).events == []
    one = remind(three.report, deadline - timedelta(hours=20), PRICES)
    assert one.events[0].data.days_before == 1  # type: ignore[attr-defined]
    assert one.report.next_reminder_at is None
    assert remind(one.report, deadline - timedelta(hours=1), PRICES).events == []


def test_a_late_timer_sends_only_the_closest_reminder() -> None:
    report = opened_report()
    assert report.deadline is not None
    outcome = remind(report, report.deadline - timedelta(hours=5), PRICES)
    assert [e.data.days_before for e in outcome.events] == [1]  # type: ignore[attr-defined]
    assert outcome.report.next_reminder_at is None


def test_auto_submission_without_unexplained_discrepancies_has_no_penalty() -> None:
    explained = decide(opened_report(), ACTIONS["partner draft"], ctx()).report
    assert explained.deadline is not None
    outcome = auto_submit(explained, explained.deadline, PRICES)
    assert outcome.report.status is ReportStatus.UNDER_REVIEW
    assert outcome.report.submission_kind is SubmissionKind.AUTOMATIC
    assert [e.type for e in outcome.events] == ["lmp.report.submitted"]
    assert outcome.report.lines[0].chargeable_units == 80


def test_auto_submission_with_unexplained_discrepancies_charges_provisioned_units() -> None:
    report = opened_report()
    assert report.deadline is not None
    assert auto_submit(report, report.deadline - timedelta(seconds=1), PRICES).changed is False
    outcome = auto_submit(report, report.deadline, PRICES)
    after = outcome.report
    assert after.submission_kind is SubmissionKind.AUTOMATIC_WITH_PENALTIES
    assert after.needs_review is True
    av = after.lines[0]
    assert (av.chargeable_units, av.penalty_units) == (100, 20)
    assert av.subtotal == Decimal("200.00")
    penalty = outcome.events[1]
    assert penalty.type == "lmp.penalty.assessed"
    assert penalty.id == f"{report.id}/penalty-assessed/{report.deadline.isoformat()}"
    data = penalty.data
    assert data.amount_added == Decimal("40.00")  # type: ignore[attr-defined]
    assert [(p.product_id, p.units_added) for p in data.lines] == [("AV", 20)]  # type: ignore[attr-defined]
    assert auto_submit(after, report.deadline + timedelta(days=1), PRICES).changed is False
