"""Usage ingestion rules: peaks per subscription, opening a report, late usage.

Usage values are peaks, so taking the maximum makes applying a snapshot idempotent
and order-free: a redelivered or reordered message can never lower or double a figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from schemas.accounts import PartnerAccount, RegionSettings
from schemas.events import LateUsage
from schemas.report import (
    ActorKind,
    HistoryEntry,
    Report,
    ReportLine,
    ReportStatus,
    SubscriptionUsage,
)
from schemas.usage import UsageReported
from services.domain.calendar import automatic_submission_deadline, retention_expiry
from services.domain.events import Outcome, report_event
from services.domain.figures import recompute_report
from services.domain.ids import report_id
from services.domain.reminders import schedule_reminders
from services.domain.status import accepts_usage
from services.domain.versions import touched


class UsageRecord(NamedTuple):
    """A validated usage message and the id of the message that carried it.

    A named tuple: the usage path makes one per message, and a tuple is the cheapest
    immutable record Python has."""

    message_id: str
    usage: UsageReported


def _max(current: int | None, new: int | None) -> int | None:
    if new is None:
        return current
    return new if current is None else max(current, new)


def new_report(partner_id: str, cycle: str, now: datetime, cause: str) -> Report:
    """An empty report in MSP preparing; the account completes it (see attach_account)."""
    rid = report_id(partner_id, cycle)
    return Report(
        id=rid,
        partner_id=partner_id,
        cycle=cycle,
        created_at=now,
        updated_at=now,
        expires_at=retention_expiry(cycle),
        history=[
            HistoryEntry(
                at=now,
                actor_kind=ActorKind.UPSTREAM,
                action="opened",
                message_id=cause,
                to_status=ReportStatus.MSP_PREPARING,
            )
        ],
    )


def _line(report: Report, product_id: str) -> ReportLine:
    for line in report.lines:
        if line.product_id == product_id:
            return line
    line = ReportLine(product_id=product_id)
    report.lines.append(line)
    report.lines.sort(key=lambda item: item.product_id)
    return line


def _subscription(line: ReportLine, subscription_id: str) -> SubscriptionUsage:
    for sub in line.subscriptions:
        if sub.subscription_id == subscription_id:
            return sub
    sub = SubscriptionUsage(subscription_id=subscription_id)
    line.subscriptions.append(sub)
    line.subscriptions.sort(key=lambda item: item.subscription_id)
    return sub


def _apply_peak(sub: SubscriptionUsage, usage: UsageReported) -> bool:
    """Raise the subscription's peaks to the snapshot's; True when a peak moved.

    Fields are assigned only when they change (most snapshots of a busy topic do not
    raise a peak, and a model's assignment is not free)."""
    changed = False
    if usage.provisioned_units > sub.provisioned_units:
        sub.provisioned_units = usage.provisioned_units
        changed = True
    used = usage.used_units
    if used is not None and (sub.used_units is None or used > sub.used_units):
        sub.used_units = used
        changed = True
    if sub.last_observed_at is None or usage.observed_at > sub.last_observed_at:
        sub.last_observed_at = usage.observed_at
    return changed


def _above(value: int | None, *held: int | None) -> bool:
    return value is not None and all(h is None or value > h for h in held)


def _apply_late_peak(sub: SubscriptionUsage, usage: UsageReported) -> bool:
    """Keep a late snapshot that says more than the report holds; a redelivery says nothing."""
    news = _above(
        usage.provisioned_units, sub.provisioned_units, sub.late_provisioned_units
    ) or _above(usage.used_units, sub.used_units, sub.late_used_units)
    if news:
        sub.late_provisioned_units = _max(sub.late_provisioned_units, usage.provisioned_units)
        sub.late_used_units = _max(sub.late_used_units, usage.used_units)
    return news


def apply_usage(report: Report, records: Sequence[UsageRecord], now: datetime) -> Outcome:
    """Fold usage snapshots into the report.

    While the partner can edit the report the peaks change its figures; afterwards the
    usage is kept as late peaks on the subscription, the line is flagged, an event
    announces it, and the submitted figures stay as they were.
    """
    report = report.clone()
    late: list[UsageRecord] = []
    changed = False
    accepting = accepts_usage(report.status)
    subscriptions = {
        (line.product_id, sub.subscription_id): (line, sub)
        for line in report.lines
        for sub in line.subscriptions
    }
    for record in records:
        usage = record.usage
        key = (usage.product_id, usage.subscription_id)
        found = subscriptions.get(key)
        known = found is not None
        if found is None:
            line = _line(report, usage.product_id)
            found = subscriptions[key] = (line, _subscription(line, usage.subscription_id))
        line, sub = found
        if accepting:
            changed |= _apply_peak(sub, usage) or not known
        elif _apply_late_peak(sub, usage) or not known:
            line.late_usage = True
            changed = True
            late.append(record)
    if not changed:
        return Outcome(report=report)
    touched(report, now)
    report = recompute_report(report)
    events = []
    for record in late:
        report.history.append(
            HistoryEntry(
                at=now,
                actor_kind=ActorKind.UPSTREAM,
                action="late-usage",
                message_id=record.message_id,
                note=f"{record.usage.product_id}/{record.usage.subscription_id}",
            )
        )
        events.append(
            report_event(
                report,
                "late-usage",
                now,
                cause=record.message_id,
                event_cls=LateUsage,
                product_id=record.usage.product_id,
                subscription_id=record.usage.subscription_id,
                provisioned_units=record.usage.provisioned_units,
                used_units=record.usage.used_units,
            )
        )
    return Outcome(report=report, events=events, changed=True)


def attach_account(
    report: Report, account: PartnerAccount, now: datetime, region: RegionSettings | None = None
) -> Outcome:
    """Complete a report opened before its partner's account was known, and announce it.

    The deadline is computed here, from the account's ``auto_submit_days``; the
    ``lmp.report.opened`` event is published once, when the report is complete.
    Reports already attached keep the account as it was when they opened, and so
    whether the partner reviews them (its account type and its region's setting).
    """
    if not report.account_pending:
        return Outcome(report=report)
    report = report.model_copy(
        deep=True,
        update={
            "partner_name": account.name,
            "distributor_id": account.distributor_id,
            "region": account.region,
            "currency": account.currency,
            "auto_submit_days": account.auto_submit_days,
            "overprovision_threshold_pct": account.overprovision_threshold_pct,
            "deadline": automatic_submission_deadline(report.cycle, account.auto_submit_days),
            "account_pending": False,
            "partner_review": has_usage_reports(account, region),
        },
    )
    touched(report, now)
    report = schedule_reminders(recompute_report(report), now)
    report.history.append(
        HistoryEntry(
            at=now,
            actor_kind=ActorKind.ACCOUNTS,
            action="account-attached",
            account_id=account.partner_id,
        )
    )
    return Outcome(report=report, events=[report_event(report, "opened", now)], changed=True)


def has_usage_reports(account: PartnerAccount, region: RegionSettings | None) -> bool:
    """SPEC section 4: the account type and the region must both give access."""
    return account.usage_reports and (region is None or region.usage_reports)
