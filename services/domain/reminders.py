"""Deadlines: reminders with a penalty preview, and automatic submission with penalties."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from schemas.events import DeadlineReminder, PenaltyAssessed, PenaltyLine, ReminderLine
from schemas.report import ActorKind, HistoryEntry, Report, ReportStatus, SubmissionKind
from services.domain.events import DomainEvent, Outcome, report_event
from services.domain.figures import is_unexplained, money_sum, recompute_report, subtotal
from services.domain.ids import event_id
from services.domain.pricing import PriceList, apply_price_list
from services.domain.status import EDITABLE_BY_PARTNER
from services.domain.versions import touched

REMINDER_DAYS = (3, 1)


def _reminder_key(deadline: datetime, days: int) -> str:
    return f"{deadline.isoformat()}/{days}"


def _unsent(report: Report) -> list[int]:
    if report.deadline is None:
        return []
    return [
        d for d in REMINDER_DAYS if _reminder_key(report.deadline, d) not in report.reminders_sent
    ]


def schedule_reminders(report: Report, now: datetime) -> Report:
    """Set when the timer should next look at the report for a reminder."""
    del now
    report = report.model_copy()
    pending = _unsent(report)
    if (
        report.deadline is None
        or not pending
        or report.status not in EDITABLE_BY_PARTNER
        or not report.partner_review
    ):
        report.next_reminder_at = None
    else:
        report.next_reminder_at = min(report.deadline - timedelta(days=d) for d in pending)
    return report


def penalty_lines(report: Report) -> list[PenaltyLine]:
    """What charging each unexplained line on provisioned units would add."""
    out = []
    for line in report.lines:
        if not is_unexplained(line):
            continue
        added = line.provisioned_units - line.chargeable_units
        out.append(
            PenaltyLine(
                product_id=line.product_id,
                provisioned_units=line.provisioned_units,
                used_units=line.used_units,
                chargeable_before=line.chargeable_units,
                chargeable_after=line.provisioned_units,
                units_added=max(added, 0),
                amount_added=subtotal(
                    max(added, 0), line.unit_price, line.channel_margin, report.currency
                ),
            )
        )
    return out


def _amount(lines: list[PenaltyLine], currency: str | None) -> Decimal | None:
    return money_sum([line.amount_added for line in lines], currency)


def _rescheduled(report: Report, now: datetime) -> Outcome:
    """The report with its next reminder time brought up to date; a change moves the
    version like any other write (a racing writer must not overwrite it unseen)."""
    scheduled = schedule_reminders(report, now)
    if scheduled.next_reminder_at == report.next_reminder_at:
        return Outcome(report=report)
    scheduled.version = report.version + 1
    return Outcome(report=scheduled, changed=True)


def remind(report: Report, now: datetime, prices: PriceList) -> Outcome:
    """Publish the closest due reminder (3 or 1 day before the deadline) once."""
    if (
        report.status not in EDITABLE_BY_PARTNER
        or report.deadline is None
        or now >= report.deadline
        or not report.partner_review
    ):
        return _rescheduled(report, now)
    due = [d for d in _unsent(report) if now >= report.deadline - timedelta(days=d)]
    if not due:
        return _rescheduled(report, now)
    days = min(due)
    after = recompute_report(apply_price_list(report, prices))
    after.reminders_sent = [
        *after.reminders_sent,
        *(_reminder_key(report.deadline, d) for d in due),
    ]
    after = touched(schedule_reminders(after, now), now)
    lines = penalty_lines(after)
    preview = [
        ReminderLine(
            product_id=p.product_id,
            provisioned_units=p.provisioned_units,
            chargeable_units=p.chargeable_before,
            penalty_units=p.units_added,
            amount=p.amount_added,
        )
        for p in lines
    ]
    event = report_event(
        after,
        "deadline-reminder",
        now,
        cause=_reminder_key(report.deadline, days),
        event_cls=DeadlineReminder,
        days_before=days,
        unexplained_lines=preview,
        penalty_preview_amount=_amount(lines, after.currency),
    )
    return Outcome(report=after, events=[event], changed=True)


def is_due(report: Report, now: datetime) -> bool:
    return (
        report.status in EDITABLE_BY_PARTNER
        and not report.account_pending
        and report.deadline is not None
        and report.deadline <= now
    )


def auto_submit(report: Report, now: datetime, prices: PriceList) -> Outcome:
    """Submit an overdue report; unexplained lines are charged on provisioned units.

    A report that skips the partner's review (no access to usage reports) is charged on
    its defaults, without penalties: the partner never had the chance to explain.
    Happens at most once per deadline: the event ids derive from the deadline, and the
    caller writes conditionally on the version it read.
    """
    if not is_due(report, now):
        return Outcome(report=report)
    assert report.deadline is not None
    cause = report.deadline.isoformat()
    after = recompute_report(apply_price_list(report, prices))
    penalties = penalty_lines(after) if report.partner_review else []
    for line in after.lines if penalties else ():
        if is_unexplained(line):
            line.penalty_units = max(line.provisioned_units - line.chargeable_units, 0)
            line.chargeable_units = line.provisioned_units
            line.chargeable_set_by_partner = True
    kind = SubmissionKind.AUTOMATIC_WITH_PENALTIES if penalties else SubmissionKind.AUTOMATIC
    after.history.append(
        HistoryEntry(
            at=now,
            actor_kind=ActorKind.TIMER,
            action="auto-submitted",
            message_id=None,
            from_status=report.status,
            to_status=ReportStatus.UNDER_REVIEW,
            note=f"deadline {cause}; {kind.value}",
        )
    )
    after.status = ReportStatus.UNDER_REVIEW
    after.submission_kind = kind
    after.needs_review = bool(penalties)
    after.next_reminder_at = None
    touched(after, now)
    after = recompute_report(after)
    events = [report_event(after, "submitted", now, cause=f"auto/{cause}")]
    if penalties:
        events.append(
            DomainEvent(
                id=event_id(report.id, "penalty-assessed", cause),
                type="lmp.penalty.assessed",
                subject=report.id,
                time=now,
                data=PenaltyAssessed(
                    report_id=report.id,
                    partner_id=report.partner_id,
                    distributor_id=report.distributor_id,
                    cycle=report.cycle,
                    currency=report.currency,
                    lines=penalties,
                    amount_added=_amount(penalties, report.currency),
                ),
            )
        )
    return Outcome(report=after, events=events, changed=True)
