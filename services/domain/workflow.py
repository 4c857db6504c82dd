"""The review workflow: one function per action, each a guard, a change and an event.

``decide(report, action, context)`` returns the new report and its events, or raises
``Refused`` with a reason a person can read. It never touches I/O or the clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeGuard, assert_never, get_args

from pydantic import BaseModel

from schemas.actions import (
    Action,
    DistributorDraftSaved,
    DistributorPricesReset,
    DistributorReportRejected,
    DistributorSubmittedToTrendMicro,
    PartnerDraftSaved,
    PartnerLineEdit,
    PartnerReportSubmitted,
    TrendMicroReportCompleted,
    TrendMicroReportReturned,
)
from schemas.pricing import PromoEditableField
from schemas.report import (
    ActorKind,
    Report,
    ReportStatus,
    SubmissionKind,
)
from services.domain.authorization import authorize_action
from services.domain.billing import billing_report
from services.domain.errors import (
    Refused,
    UnknownReport,
    ValidationFailed,
    WrongStatus,
)
from services.domain.events import DomainEvent, Outcome
from services.domain.figures import is_unexplained, recompute_report
from services.domain.ids import event_id
from services.domain.pricing import (
    apply_price_list,
    check_promotion,
    editable_field,
    reset_prices,
)
from services.domain.reminders import schedule_reminders
from services.domain.status import EDITABLE_BY_PARTNER, REVIEWABLE_BY_DISTRIBUTOR
from services.domain.transition import (
    ActionContext,
    finish,
    history_entry,
    line_of,
    require_status,
)

RETURN_REASONS_KEPT = 8
"""Trend Micro's latest return reasons a report shows; every one stays in its history
(the entry's note), so the report does not grow with each submit-and-return round."""


def _apply_partner_edits(report: Report, edits: list[PartnerLineEdit]) -> None:
    for edit in edits:
        line = line_of(report, edit.product_id)
        if edit.chargeable_units is not None:
            line.chargeable_units = edit.chargeable_units
            line.chargeable_set_by_partner = True
        if edit.comment is not None:
            line.partner_comment = edit.comment.strip() or None


def _partner_draft(report: Report, action: PartnerDraftSaved, ctx: ActionContext) -> Outcome:
    require_status(report, EDITABLE_BY_PARTNER, "save the usage report")
    after = report.clone()
    _apply_partner_edits(after, action.lines)
    entry = history_entry(report, action, ctx, ActorKind.PARTNER, report.status)
    return finish(after, entry, ctx, "draft-saved")


def _partner_submit(report: Report, action: PartnerReportSubmitted, ctx: ActionContext) -> Outcome:
    require_status(report, EDITABLE_BY_PARTNER, "submit the usage report")
    after = report.clone()
    _apply_partner_edits(after, action.lines)
    after = recompute_report(after)
    unexplained = [line.product_id for line in after.lines if is_unexplained(line)]
    if unexplained:
        raise ValidationFailed(
            "every discrepancy needs a comment before submission; unexplained: "
            + ", ".join(unexplained)
        )
    after.status = ReportStatus.UNDER_REVIEW
    after.submission_kind = SubmissionKind.MANUAL
    after.next_reminder_at = None
    after = apply_price_list(after, ctx.prices)
    entry = history_entry(report, action, ctx, ActorKind.PARTNER, after.status)
    return finish(after, entry, ctx, "submitted")


def _distributor_draft(
    report: Report, action: DistributorDraftSaved, ctx: ActionContext
) -> Outcome:
    require_status(report, REVIEWABLE_BY_DISTRIBUTOR, "save the billing report")
    after = apply_price_list(report, ctx.prices)
    if action.po_number is not None:
        after.po_number = action.po_number.strip() or None
    for edit in action.lines:
        line = line_of(after, edit.product_id)
        if edit.promo_code is not None:
            check_promotion(edit.promo_code, ctx.promotions, after.region, line.product_id, ctx.now)
            line.promo_code = edit.promo_code
        unlocked = editable_field(ctx.prices, line.product_id) if line.promo_code else None
        for name, value in (
            ("unit_price", edit.unit_price),
            ("channel_margin", edit.channel_margin),
        ):
            if value is None:
                continue
            if unlocked is None:
                raise ValidationFailed(
                    f"{name.replace('_', ' ')} of {line.product_id} is locked: "
                    "verify a promotional code for the line first"
                )
            if unlocked is not PromoEditableField(name):
                raise ValidationFailed(
                    f"in region {after.region} a promotional code unlocks the "
                    f"{unlocked.value.replace('_', ' ')}, not the {name.replace('_', ' ')}"
                )
            setattr(line, name, value)
    entry = history_entry(report, action, ctx, ActorKind.DISTRIBUTOR, report.status)
    return finish(after, entry, ctx, "draft-saved")


def _prices_reset(report: Report, action: DistributorPricesReset, ctx: ActionContext) -> Outcome:
    require_status(report, REVIEWABLE_BY_DISTRIBUTOR, "reset prices")
    after = apply_price_list(reset_prices(report), ctx.prices)
    entry = history_entry(report, action, ctx, ActorKind.DISTRIBUTOR, report.status, "prices reset")
    return finish(after, entry, ctx, "draft-saved", comment="prices reset")


def _reject(report: Report, action: DistributorReportRejected, ctx: ActionContext) -> Outcome:
    require_status(report, REVIEWABLE_BY_DISTRIBUTOR, "reject the report")
    reasons = [r.strip() for r in action.reasons if r.strip()]
    if not reasons:
        raise ValidationFailed("a rejection needs at least one reason for the partner")
    after = report.clone()
    after.status = ReportStatus.REJECTED
    after.submission_kind = None
    after.rejection_reasons = reasons
    after.deadline = ctx.now + timedelta(days=report.auto_submit_days or 0)
    after = schedule_reminders(after, ctx.now)
    entry = history_entry(
        report, action, ctx, ActorKind.DISTRIBUTOR, after.status, "; ".join(reasons)
    )
    return finish(after, entry, ctx, "rejected", reasons=reasons)


def _submit_to_trendmicro(
    report: Report, action: DistributorSubmittedToTrendMicro, ctx: ActionContext
) -> Outcome:
    require_status(report, REVIEWABLE_BY_DISTRIBUTOR, "submit to Trend Micro")
    after = apply_price_list(report, ctx.prices)
    po_number = (action.po_number or after.po_number or "").strip()
    if not po_number:
        raise ValidationFailed("a PO number is required to submit to Trend Micro")
    unpriced = [
        line.product_id
        for line in after.lines
        if line.unit_price is None or line.channel_margin is None
    ]
    if unpriced:
        raise ValidationFailed(
            f"no price in region {after.region} ({after.currency}) for: " + ", ".join(unpriced)
        )
    after.po_number = po_number
    after.comments_to_trendmicro = action.comment
    after.status = ReportStatus.SUBMITTED_TO_TRENDMICRO
    entry = history_entry(report, action, ctx, ActorKind.DISTRIBUTOR, after.status, action.comment)
    outcome = finish(after, entry, ctx, "submitted-to-trendmicro", comment=action.comment)
    outcome.events.append(
        DomainEvent(
            id=event_id(report.id, "billing-submitted", ctx.message_id),
            type="lmp.billing.submitted",
            subject=report.id,
            time=ctx.now,
            data=billing_report(outcome.report),
        )
    )
    return outcome


def _returned(report: Report, action: TrendMicroReportReturned, ctx: ActionContext) -> Outcome:
    require_status(report, frozenset({ReportStatus.SUBMITTED_TO_TRENDMICRO}), "return the report")
    after = report.clone()
    after.status = ReportStatus.RETURNED_BY_TRENDMICRO
    after.return_reasons = [*report.return_reasons, action.reason][-RETURN_REASONS_KEPT:]
    entry = history_entry(report, action, ctx, ActorKind.TRENDMICRO, after.status, action.reason)
    return finish(after, entry, ctx, "returned", reasons=[action.reason])


def _completed(report: Report, action: TrendMicroReportCompleted, ctx: ActionContext) -> Outcome:
    require_status(report, frozenset({ReportStatus.SUBMITTED_TO_TRENDMICRO}), "complete the report")
    after = report.clone()
    after.status = ReportStatus.COMPLETED
    entry = history_entry(report, action, ctx, ActorKind.TRENDMICRO, after.status, action.reference)
    return finish(after, entry, ctx, "completed", comment=action.reference)


def _is_action(data: BaseModel) -> TypeGuard[Action]:
    return isinstance(data, get_args(Action))


def _apply(report: Report, action: Action, ctx: ActionContext) -> Outcome:
    """The action's own transition (the match is exhaustive: mypy checks every type)."""
    match action:
        case PartnerDraftSaved():
            return _partner_draft(report, action, ctx)
        case PartnerReportSubmitted():
            return _partner_submit(report, action, ctx)
        case DistributorDraftSaved():
            return _distributor_draft(report, action, ctx)
        case DistributorPricesReset():
            return _prices_reset(report, action, ctx)
        case DistributorReportRejected():
            return _reject(report, action, ctx)
        case DistributorSubmittedToTrendMicro():
            return _submit_to_trendmicro(report, action, ctx)
        case TrendMicroReportReturned():
            return _returned(report, action, ctx)
        case TrendMicroReportCompleted():
            return _completed(report, action, ctx)
    assert_never(action)


def decide(report: Report | None, action: BaseModel, ctx: ActionContext) -> Outcome:
    """Apply one action to its report, or raise ``Refused`` with the reason.

    Whether the message was answered before is not asked here: the caller looks up the
    recorded decision first (``recorded_decision``) and decides only what is new.
    """
    report_id = getattr(action, "report_id", "?")
    if report is None:
        raise UnknownReport(f"report {report_id} does not exist")
    if report.account_pending:
        raise WrongStatus(f"report {report.id} is not open yet: the partner account is unknown")
    if not _is_action(action):
        raise TypeError(f"{type(action).__name__} is not an action on a report")
    authorize_action(report, action)
    try:
        return _apply(report, action, ctx)
    except ArithmeticError as exc:
        raise ValidationFailed(
            f"the amounts of report {report.id} are out of range: {exc}"
        ) from exc


__all__ = ["ActionContext", "Refused", "decide"]
