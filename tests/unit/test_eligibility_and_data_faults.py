"""SPEC section 4 eligibility, arithmetic that cannot be done, and late redeliveries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from schemas.accounts import PartnerAccount, RegionSettings
from schemas.actions import DistributorDraftSaved
from schemas.report import Report, ReportStatus, SubmissionKind
from schemas.usage import UsageReported
from services.domain.errors import NotAuthorized, ValidationFailed
from services.domain.reminders import auto_submit, remind, schedule_reminders
from services.domain.usage import (
    UsageRecord,
    apply_usage,
    attach_account,
    has_usage_reports,
    new_report,
)
from services.domain.workflow import decide
from tests.unit.workflow_data import ACTIONS, NOW, PRICES, RID, ctx, opened_report

pytestmark = pytest.mark.unit

ACCOUNT = PartnerAccount(
    partner_id="PA", name="Acme", distributor_id="D1", region="EMEA", currency="EUR"
)


def without_review() -> Report:
    report = opened_report()
    return report.model_copy(update={"partner_review": False, "next_reminder_at": None})


def test_access_needs_both_the_account_type_and_the_region() -> None:
    closed = RegionSettings(region="EMEA", usage_reports=False)
    assert has_usage_reports(ACCOUNT, None) is True
    assert has_usage_reports(ACCOUNT, closed) is False
    no_access = ACCOUNT.model_copy(update={"usage_reports": False})
    assert has_usage_reports(no_access, RegionSettings(region="EMEA")) is False


def test_a_report_opened_in_a_closed_region_skips_the_partner_review() -> None:
    pending = new_report("PA", "2026-10", NOW, "u0")
    report = attach_account(
        pending, ACCOUNT, NOW, RegionSettings(region="EMEA", usage_reports=False)
    ).report
    assert report.partner_review is False
    assert report.next_reminder_at is None
    assert report.deadline is not None


@pytest.mark.parametrize("action", ["partner draft", "partner submit"])
def test_partner_actions_are_refused_without_access(action: str) -> None:
    with pytest.raises(NotAuthorized, match="no access to usage reports"):
        decide(without_review(), ACTIONS[action], ctx())


def test_without_access_there_are_no_reminders_and_no_penalties() -> None:
    report = without_review()
    assert report.deadline is not None
    assert schedule_reminders(report, NOW).next_reminder_at is None
    assert remind(report, report.deadline - timedelta(days=3), PRICES).events == []
    outcome = auto_submit(report, report.deadline, PRICES)
    assert outcome.report.status is ReportStatus.UNDER_REVIEW
    assert outcome.report.submission_kind is SubmissionKind.AUTOMATIC
    assert [e.type for e in outcome.events] == ["lmp.report.submitted"]
    av = outcome.report.lines[0]
    assert (av.chargeable_units, av.penalty_units) == (80, 0)


def test_the_distributor_reviews_it_like_any_other_report() -> None:
    report = without_review().model_copy(update={"status": ReportStatus.UNDER_REVIEW})
    assert decide(report, ACTIONS["distributor draft"], ctx()).changed


def test_amounts_that_cannot_be_computed_are_a_refusal_with_a_reason() -> None:
    report = opened_report(ReportStatus.UNDER_REVIEW)
    report.lines[0].promo_code = "BID-1"
    report.lines[0].unit_price = Decimal("1E+30")
    report.lines[0].channel_margin = Decimal("0")
    with pytest.raises(ValidationFailed, match="out of range"):
        decide(report, DistributorDraftSaved(report_id=RID, actor=ACTIONS["reject"].actor), ctx())  # type: ignore[attr-defined]


def test_a_redelivered_usage_after_submission_is_not_late_usage() -> None:
    def usage(msg: str, units: int) -> UsageRecord:
        return UsageRecord(
            msg,
            UsageReported(
                partner_id="PA",
                cycle="2026-10",
                product_id="AV",
                subscription_id="S1",
                provisioned_units=units,
                observed_at=NOW,
            ),
        )

    submitted = opened_report(ReportStatus.UNDER_REVIEW)
    assert apply_usage(submitted, [usage("u-AV", 100)], NOW).changed is False
    late = apply_usage(submitted, [usage("late", 120)], NOW)
    assert [e.type for e in late.events] == ["lmp.report.late-usage"]
    assert late.report.lines[0].provisioned_units == 100
