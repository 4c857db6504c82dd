"""The review workflow: one function per action, each a guard, a change and an event.

``decide(report, action, context)`` returns the new report and its events, or raises
``Refused`` with a reason a person can read. It never touches I/O or the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from schemas.actions import (
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
from schemas.events import BillingLine, BillingSubmitted
from schemas.pricing import PromoEditableField
from schemas.report import (
    ActorKind,
    Decision,
    HistoryEntry,
    Report,
    ReportLine,
    ReportStatus,
    SubmissionKind,
)
from services.domain.errors import (
    NotAuthorized,
    Refused,
    UnknownReport,
    ValidationFailed,
    WrongStatus,
)
from services.domain.events import DomainEvent, Outcome, report_event
from services.domain.figures import is_unexplained, recompute_report
from services.domain.ids import event_id
from services.domain.pricing import (
    PriceList,
    Promotions,
    apply_price_list,
    check_promotion,
    editable_field,
    reset_prices,
)
from services.domain.reminders import schedule_reminders
from services.domain.status import EDITABLE_BY_PARTNER, REVIEWABLE_BY_DISTRIBUTOR

RETURN_REASONS_KEPT = 8
"""Trend Micro's latest return reasons a report shows; every one stays in its history
(the entry's note), so the report does not grow with each submit-and-return round."""

STATUS_NAMES = {
    ReportStatus.MSP_PREPARING: "MSP preparing",
    ReportStatus.UNDER_REVIEW: "Under review",
    ReportStatus.REJECTED: "Rejected",
    ReportStatus.SUBMITTED_TO_TRENDMICRO: "Submitted to Trend Micro",
    ReportStatus.RETURNED_BY_TRENDMICRO: "Returned by Trend Micro",
    ReportStatus.COMPLETED: "Completed",
}


class ConflictingDuplicate(Exception):
    """The message id was applied before with a different payload."""


@dataclass(frozen=True)
class ActionContext:
    """What the core needs besides the report: the message's identity, time and prices."""

    message_id: str
    payload_hash: str
    action_type: str
    now: datetime
    prices: PriceList = field(default_factory=dict)
    promotions: Promotions = field(default_factory=dict)


def _entry(
    report: Report,
    action: BaseModel,
    ctx: ActionContext,
    kind: ActorKind,
    to: ReportStatus,
    note: str | None = None,
) -> HistoryEntry:
    actor = getattr(action, "actor", None)
    return HistoryEntry(
        at=ctx.now,
        actor_kind=kind,
        account_id=actor.account_id if actor else None,
        user_id=actor.user_id if actor else None,
        action=ctx.action_type,
        message_id=ctx.message_id,
        payload_hash=ctx.payload_hash,
        from_status=report.status,
        to_status=to,
        note=note,
    )


def _require_status(report: Report, allowed: frozenset[ReportStatus], what: str) -> None:
    if report.status not in allowed:
        names = " or ".join(sorted(STATUS_NAMES[s] for s in allowed))
        raise WrongStatus(
            f"cannot {what}: the report is {STATUS_NAMES[report.status]}, it must be {names}"
        )


def _line(report: Report, product_id: str) -> ReportLine:
    for line in report.lines:
        if line.product_id == product_id:
            return line
    raise ValidationFailed(f"the report has no line for product {product_id}")


def _apply_partner_edits(report: Report, edits: list[PartnerLineEdit]) -> None:
    for edit in edits:
        line = _line(report, edit.product_id)
        if edit.chargeable_units is not None:
            line.chargeable_units = edit.chargeable_units
            line.chargeable_set_by_partner = True
        if edit.comment is not None:
            line.partner_comment = edit.comment.strip() or None


def _finish(
    before: Report,
    after: Report,
    entry: HistoryEntry,
    ctx: ActionContext,
    kind: str,
    **details: Any,
) -> Outcome:
    after.version = before.version + 1
    after.updated_at = ctx.now
    after.history.append(entry)
    after = recompute_report(after)
    event = report_event(
        after,
        kind,
        ctx.now,
        cause=ctx.message_id,
        by_account_id=entry.account_id,
        by_user_id=entry.user_id,
        **details,
    )
    return Outcome(report=after, events=[event], changed=True)


def _partner_draft(report: Report, action: PartnerDraftSaved, ctx: ActionContext) -> Outcome:
    _require_status(report, EDITABLE_BY_PARTNER, "save the usage report")
    after = report.clone()
    _apply_partner_edits(after, action.lines)
    entry = _entry(report, action, ctx, ActorKind.PARTNER, report.status)
    return _finish(report, after, entry, ctx, "draft-saved")


def _partner_submit(report: Report, action: PartnerReportSubmitted, ctx: ActionContext) -> Outcome:
    _require_status(report, EDITABLE_BY_PARTNER, "submit the usage report")
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
    entry = _entry(report, action, ctx, ActorKind.PARTNER, after.status)
    return _finish(report, after, entry, ctx, "submitted")


def _distributor_draft(
    report: Report, action: DistributorDraftSaved, ctx: ActionContext
) -> Outcome:
    _require_status(report, REVIEWABLE_BY_DISTRIBUTOR, "save the billing report")
    after = apply_price_list(report, ctx.prices)
    if action.po_number is not None:
        after.po_number = action.po_number.strip() or None
    for edit in action.lines:
        line = _line(after, edit.product_id)
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
    entry = _entry(report, action, ctx, ActorKind.DISTRIBUTOR, report.status)
    return _finish(report, after, entry, ctx, "draft-saved")


def _prices_reset(report: Report, action: DistributorPricesReset, ctx: ActionContext) -> Outcome:
    _require_status(report, REVIEWABLE_BY_DISTRIBUTOR, "reset prices")
    after = apply_price_list(reset_prices(report), ctx.prices)
    entry = _entry(report, action, ctx, ActorKind.DISTRIBUTOR, report.status, "prices reset")
    return _finish(report, after, entry, ctx, "draft-saved", comment="prices reset")


def _reject(report: Report, action: DistributorReportRejected, ctx: ActionContext) -> Outcome:
    _require_status(report, REVIEWABLE_BY_DISTRIBUTOR, "reject the report")
    reasons = [r.strip() for r in action.reasons if r.strip()]
    if not reasons:
        raise ValidationFailed("a rejection needs at least one reason for the partner")
    after = report.clone()
    after.status = ReportStatus.REJECTED
    after.submission_kind = None
    after.rejection_reasons = reasons
    after.deadline = ctx.now + timedelta(days=report.auto_submit_days or 0)
    after = schedule_reminders(after, ctx.now)
    entry = _entry(report, action, ctx, ActorKind.DISTRIBUTOR, after.status, "; ".join(reasons))
    return _finish(report, after, entry, ctx, "rejected", reasons=reasons)


def billing_report(report: Report) -> BillingSubmitted:
    """The whole billing report as Trend Micro receives it."""
    return BillingSubmitted(
        report_id=report.id,
        partner_id=report.partner_id,
        partner_name=report.partner_name,
        distributor_id=report.distributor_id,
        region=report.region,
        currency=report.currency,
        cycle=report.cycle,
        po_number=report.po_number or "",
        submission_kind=report.submission_kind,
        comments_to_trendmicro=report.comments_to_trendmicro,
        lines=[
            BillingLine(
                product_id=line.product_id,
                provisioned_units=line.provisioned_units,
                used_units=line.used_units,
                overprovisioned_pct=line.overprovisioned_pct,
                chargeable_units=line.chargeable_units,
                partner_comment=line.partner_comment,
                unit_price=line.unit_price,
                channel_margin=line.channel_margin,
                promo_code=line.promo_code,
                subtotal=line.subtotal,
            )
            for line in report.lines
        ],
        total_amount=report.total_amount,
        version=report.version,
    )


def _submit_to_trendmicro(
    report: Report, action: DistributorSubmittedToTrendMicro, ctx: ActionContext
) -> Outcome:
    _require_status(report, REVIEWABLE_BY_DISTRIBUTOR, "submit to Trend Micro")
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
    entry = _entry(report, action, ctx, ActorKind.DISTRIBUTOR, after.status, action.comment)
    outcome = _finish(report, after, entry, ctx, "submitted-to-trendmicro", comment=action.comment)
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
    _require_status(report, frozenset({ReportStatus.SUBMITTED_TO_TRENDMICRO}), "return the report")
    after = report.clone()
    after.status = ReportStatus.RETURNED_BY_TRENDMICRO
    after.return_reasons = [*report.return_reasons, action.reason][-RETURN_REASONS_KEPT:]
    entry = _entry(report, action, ctx, ActorKind.TRENDMICRO, after.status, action.reason)
    return _finish(report, after, entry, ctx, "returned", reasons=[action.reason])


def _completed(report: Report, action: TrendMicroReportCompleted, ctx: ActionContext) -> Outcome:
    _require_status(
        report, frozenset({ReportStatus.SUBMITTED_TO_TRENDMICRO}), "complete the report"
    )
    after = report.clone()
    after.status = ReportStatus.COMPLETED
    entry = _entry(report, action, ctx, ActorKind.TRENDMICRO, after.status, action.reference)
    return _finish(report, after, entry, ctx, "completed", comment=action.reference)


Handler = Callable[[Report, object, ActionContext], Outcome]

_HANDLERS: Mapping[type[BaseModel], tuple[ActorKind, Handler]] = {
    PartnerDraftSaved: (ActorKind.PARTNER, _partner_draft),  # type: ignore[dict-item]
    PartnerReportSubmitted: (ActorKind.PARTNER, _partner_submit),  # type: ignore[dict-item]
    DistributorDraftSaved: (ActorKind.DISTRIBUTOR, _distributor_draft),  # type: ignore[dict-item]
    DistributorPricesReset: (ActorKind.DISTRIBUTOR, _prices_reset),  # type: ignore[dict-item]
    DistributorReportRejected: (ActorKind.DISTRIBUTOR, _reject),  # type: ignore[dict-item]
    DistributorSubmittedToTrendMicro: (ActorKind.DISTRIBUTOR, _submit_to_trendmicro),  # type: ignore[dict-item]
    TrendMicroReportReturned: (ActorKind.TRENDMICRO, _returned),  # type: ignore[dict-item]
    TrendMicroReportCompleted: (ActorKind.TRENDMICRO, _completed),  # type: ignore[dict-item]
}


def authorize(report: Report, kind: ActorKind, account_id: str) -> None:
    """A partner acts on its own reports, a distributor on its partners' reports.

    Trend Micro is authorized by the topic its responses arrive on.
    """
    if kind is ActorKind.PARTNER and account_id != report.partner_id:
        raise NotAuthorized(f"partner {account_id} may not act on {report.partner_id}'s report")
    if kind is ActorKind.DISTRIBUTOR and account_id != report.distributor_id:
        raise NotAuthorized(
            f"distributor {account_id} does not review reports of partner {report.partner_id}"
        )


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
    kind, handler = _HANDLERS[type(action)]
    authorize(report, kind, action.actor.account_id)  # type: ignore[attr-defined]
    if kind is ActorKind.PARTNER and not report.partner_review:
        raise NotAuthorized(
            f"partner {report.partner_id} has no access to usage reports (its account type "
            "or region): the report is submitted automatically at its deadline"
        )
    try:
        return handler(report, action, ctx)
    except ArithmeticError as exc:
        raise ValidationFailed(
            f"the amounts of report {report.id} are out of range: {exc}"
        ) from exc


def recorded_decision(
    report: Report | None, topic: str, message_id: str, payload_hash: str
) -> Decision | None:
    """The answer already given to this message (its topic and id) on this report, if any.

    The same id with another payload is not the same request: ``ConflictingDuplicate``.
    """
    if report is None:
        return None
    for decision in report.decisions:
        if decision.message_id == message_id and decision.topic == topic:
            if decision.payload_hash != payload_hash:
                raise ConflictingDuplicate(message_id)
            return decision
    return None


__all__ = [
    "ActionContext",
    "ConflictingDuplicate",
    "Refused",
    "billing_report",
    "decide",
    "recorded_decision",
]
