"""Every status x every action of the review workflow, allowed and refused."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.actions import (
    Actor,
    DistributorDraftSaved,
    DistributorLineEdit,
    DistributorReportRejected,
    DistributorSubmittedToTrendMicro,
    PartnerDraftSaved,
    PartnerLineEdit,
    PartnerReportSubmitted,
)
from schemas.report import Decision, ReportStatus, SubmissionKind
from services.domain.deduplication import ConflictingDuplicate, recorded_decision
from services.domain.errors import (
    NotAuthorized,
    Refused,
    UnknownReport,
    ValidationFailed,
    WrongStatus,
)
from services.domain.workflow import decide
from tests.unit.workflow_data import (
    ACTIONS,
    DISTRIBUTOR,
    NOW,
    PARTNER,
    RID,
    ctx,
    opened_report,
)

pytestmark = pytest.mark.unit

S = ReportStatus
ALLOWED: dict[str, tuple[set[ReportStatus], ReportStatus | None]] = {
    # action: (statuses it is allowed from, status it leads to; None = unchanged)
    "partner draft": ({S.MSP_PREPARING, S.REJECTED}, None),
    "partner submit": ({S.MSP_PREPARING, S.REJECTED}, S.UNDER_REVIEW),
    "distributor draft": ({S.UNDER_REVIEW, S.RETURNED_BY_TRENDMICRO}, None),
    "prices reset": ({S.UNDER_REVIEW, S.RETURNED_BY_TRENDMICRO}, None),
    "reject": ({S.UNDER_REVIEW, S.RETURNED_BY_TRENDMICRO}, S.REJECTED),
    "submit to TM": ({S.UNDER_REVIEW, S.RETURNED_BY_TRENDMICRO}, S.SUBMITTED_TO_TRENDMICRO),
    "TM returned": ({S.SUBMITTED_TO_TRENDMICRO}, S.RETURNED_BY_TRENDMICRO),
    "TM completed": ({S.SUBMITTED_TO_TRENDMICRO}, S.COMPLETED),
}
EVENT = {
    "partner draft": "draft-saved",
    "partner submit": "submitted",
    "distributor draft": "draft-saved",
    "prices reset": "draft-saved",
    "reject": "rejected",
    "submit to TM": "submitted-to-trendmicro",
    "TM returned": "returned",
    "TM completed": "completed",
}


@pytest.mark.parametrize("status", list(ReportStatus))
@pytest.mark.parametrize("name", list(ACTIONS))
def test_every_status_and_action(status: ReportStatus, name: str) -> None:
    report = opened_report(status)
    allowed_from, to = ALLOWED[name]
    if status not in allowed_from:
        with pytest.raises(WrongStatus, match=r"cannot .* the report is"):
            decide(report, ACTIONS[name], ctx())
        return
    outcome = decide(report, ACTIONS[name], ctx())
    assert outcome.report.status == (to or status)
    assert outcome.report.version == report.version + 1
    assert outcome.events[0].type == f"lmp.report.{EVENT[name]}"
    assert outcome.events[0].id == f"{RID}/{EVENT[name]}/m1"
    last = outcome.report.history[-1]
    assert (last.message_id, last.from_status, last.to_status) == ("m1", status, to or status)


def test_partner_submit_is_refused_while_a_discrepancy_is_unexplained() -> None:
    action = PartnerReportSubmitted(report_id=RID, actor=PARTNER)
    with pytest.raises(ValidationFailed, match="unexplained: AV"):
        decide(opened_report(), action, ctx())


def test_partner_submit_records_a_manual_submission() -> None:
    outcome = decide(opened_report(), ACTIONS["partner submit"], ctx())
    assert outcome.report.submission_kind is SubmissionKind.MANUAL
    assert outcome.report.lines[0].partner_comment == "20 seats reserved for a new customer"


def test_partner_setting_chargeable_to_provisioned_removes_the_discrepancy() -> None:
    action = PartnerReportSubmitted(
        report_id=RID, actor=PARTNER, lines=[PartnerLineEdit(product_id="AV", chargeable_units=100)]
    )
    report = opened_report().model_copy(update={"overprovision_threshold_pct": Decimal("25")})
    assert decide(report, action, ctx()).report.status is S.UNDER_REVIEW


@pytest.mark.parametrize(
    ("name", "actor", "message"),
    [
        ("partner draft", Actor(account_id="PB", user_id="x"), "partner PB may not act"),
        ("reject", Actor(account_id="D2", user_id="x"), "distributor D2 does not review"),
    ],
)
def test_actors_act_only_on_their_own_reports(name: str, actor: Actor, message: str) -> None:
    action = ACTIONS[name].model_copy(update={"actor": actor})
    status = S.MSP_PREPARING if name.startswith("partner") else S.UNDER_REVIEW
    with pytest.raises(NotAuthorized, match=message):
        decide(opened_report(status), action, ctx())


def test_unknown_report_is_refused() -> None:
    with pytest.raises(UnknownReport, match="does not exist"):
        decide(None, ACTIONS["partner draft"], ctx())


def test_reject_needs_reasons_and_sets_a_new_deadline() -> None:
    review = opened_report(S.UNDER_REVIEW)
    with pytest.raises(ValidationFailed, match="at least one reason"):
        decide(
            review,
            DistributorReportRejected(report_id=RID, actor=DISTRIBUTOR, reasons=[" "]),
            ctx(),
        )
    outcome = decide(review, ACTIONS["reject"], ctx())
    assert outcome.report.deadline == NOW + timedelta(days=5)
    assert outcome.report.rejection_reasons == ["AV too high"]
    assert outcome.report.next_reminder_at == NOW + timedelta(days=2)


def test_submit_to_trendmicro_needs_a_po_number_and_publishes_the_billing_report() -> None:
    review = opened_report(S.UNDER_REVIEW)
    with pytest.raises(ValidationFailed, match="PO number is required"):
        decide(review, DistributorSubmittedToTrendMicro(report_id=RID, actor=DISTRIBUTOR), ctx())
    outcome = decide(
        review,
        DistributorSubmittedToTrendMicro(
            report_id=RID, actor=DISTRIBUTOR, po_number="PO-9", comment="thanks"
        ),
        ctx(),
    )
    billing = outcome.events[1]
    assert billing.type == "lmp.billing.submitted"
    data: Any = billing.data
    assert data.po_number == "PO-9"
    assert data.comments_to_trendmicro == "thanks"
    # AV: 80 x 2.50 x 0.8 = 160.00 ; EDR: 10 x 7.00 x 0.9 = 63.00
    assert [line.subtotal for line in data.lines] == [Decimal("160.00"), Decimal("63.00")]
    assert data.total_amount == Decimal("223.00")


def test_promo_code_unlocks_the_regional_field_and_reset_restores_list_prices() -> None:
    review = opened_report(S.UNDER_REVIEW)
    locked = DistributorDraftSaved(
        report_id=RID,
        actor=DISTRIBUTOR,
        lines=[DistributorLineEdit(product_id="AV", unit_price=Decimal("1.00"))],
    )
    with pytest.raises(ValidationFailed, match="locked"):
        decide(review, locked, ctx())
    wrong_field = DistributorDraftSaved(
        report_id=RID,
        actor=DISTRIBUTOR,
        lines=[
            DistributorLineEdit(product_id="AV", promo_code="BID-1", channel_margin=Decimal("0.5"))
        ],
    )
    with pytest.raises(ValidationFailed, match="unlocks the unit price, not the channel margin"):
        decide(review, wrong_field, ctx())
    promo = DistributorDraftSaved(
        report_id=RID,
        actor=DISTRIBUTOR,
        lines=[
            DistributorLineEdit(product_id="AV", promo_code="BID-1", unit_price=Decimal("2.00"))
        ],
    )
    after = decide(review, promo, ctx()).report
    assert (after.lines[0].promo_code, after.lines[0].unit_price) == ("BID-1", Decimal("2.00"))
    assert after.lines[0].subtotal == Decimal("128.00")
    reset = decide(after, ACTIONS["prices reset"], ctx("m2")).report
    assert (reset.lines[0].promo_code, reset.lines[0].unit_price) == (None, Decimal("2.50"))


@pytest.mark.parametrize(
    ("code", "product", "reason"),
    [
        ("NOPE", "AV", "does not exist"),
        ("OLD", "AV", "expired"),
        ("APAC", "AV", "belongs to region APAC"),
        ("BID-1", "EDR", "does not cover product EDR"),
    ],
)
def test_invalid_promo_codes_are_refused_with_a_reason(
    code: str, product: str, reason: str
) -> None:
    action = DistributorDraftSaved(
        report_id=RID,
        actor=DISTRIBUTOR,
        lines=[DistributorLineEdit(product_id=product, promo_code=code)],
    )
    with pytest.raises(ValidationFailed, match=reason):
        decide(opened_report(S.UNDER_REVIEW), action, ctx())


EARLIER = Decision(
    topic="lmp.partner-actions.v1",
    message_id="earlier",
    payload_hash="h",
    action_type="lmp.partner.draft-saved",
    outcome="applied",
    decided_at=NOW,
)
"""An applied decision a stored report holds."""


def test_a_recorded_decision_is_found_and_a_conflicting_payload_is_detected() -> None:
    decision = EARLIER.model_copy(update={"message_id": "m7", "outcome": "refused", "reason": "no"})
    report = opened_report().model_copy(update={"decisions": [decision]})
    partner = "lmp.partner-actions.v1"
    assert recorded_decision(report, partner, "m7", "h") == decision
    assert recorded_decision(report, partner, "m8", "h") is None
    assert recorded_decision(None, partner, "m7", "h") is None
    # The same id on another topic is another action (another sender).
    assert recorded_decision(report, "lmp.distributor-actions.v1", "m7", "other") is None
    with pytest.raises(ConflictingDuplicate):
        recorded_decision(report, partner, "m7", "other")


def test_edit_of_a_missing_line_is_refused() -> None:
    action = PartnerDraftSaved(
        report_id=RID, actor=PARTNER, lines=[PartnerLineEdit(product_id="ZZZ", chargeable_units=1)]
    )
    with pytest.raises(Refused, match="no line for product ZZZ"):
        decide(opened_report(), action, ctx())


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_deciding_never_changes_the_report_it_was_given(name: str) -> None:
    """The domain changes a clone in place; what it was given (a stored, committed report
    whose records the clone shares) stays as it was, whatever the outcome."""
    for status in ReportStatus:
        report = opened_report(status)
        report = report.model_copy(update={"decisions": [EARLIER]})
        before = report.model_dump()
        with contextlib.suppress(Refused):
            decide(report, ACTIONS[name], ctx())
        assert report.model_dump() == before


def test_a_clone_shares_only_frozen_records() -> None:
    report = opened_report()
    report = report.model_copy(update={"decisions": [EARLIER]})
    before = report.model_dump()
    clone = report.clone()
    clone.lines[0].chargeable_units += 5
    clone.lines[0].subscriptions[0].provisioned_units += 5
    clone.lines.pop()
    for name in ("history", "decisions", "reminders_sent", "rejection_reasons", "return_reasons"):
        getattr(clone, name).clear()
    assert report.model_dump() == before
    with pytest.raises(ValidationError, match="frozen"):
        report.history[0].note = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        report.decisions[0].reason = "changed"  # type: ignore[misc]
