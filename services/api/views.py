"""What the read API shows: the distributor's billing report, the partner's usage report.

Pure functions of documents, a language and a time zone. Times are stored in UTC and
rendered in the caller's zone; money stays an exact decimal string.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from schemas.api import (
    HISTORY_SHOWN,
    BillingReportDetail,
    BillingReportSummary,
    ReportHistoryEntry,
    UsageHistoryEntry,
    UsageLine,
    UsageReportDetail,
    UsageReportSummary,
)
from schemas.report import (
    ActorKind,
    HistoryEntry,
    Report,
    ReportLine,
    ReportStatus,
    StatusCode,
    SubmissionKind,
)
from schemas.status import BillingStatus, PartnerStatus
from services.domain.figures import is_unexplained, unexplained
from services.domain.labels import BILLING_STATUS_LABELS, PARTNER_STATUS_LABELS, Language
from services.domain.status import (
    EDITABLE_BY_PARTNER,
    billing_status,
    partner_status,
    partner_status_code,
    status_code,
)

_PLAIN = frozenset({str, int, bool, float, type(None)})


def jsonable(value: Any, tz: ZoneInfo) -> Any:
    """A document as JSON values: datetimes in ``tz``, decimals as exact strings."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: jsonable(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, tz) for v in value]
    return value


def _time(value: datetime | None, tz: ZoneInfo) -> str | None:
    return None if value is None else _local(value, tz)


@lru_cache(maxsize=4096)
def _local(value: datetime, tz: ZoneInfo) -> str:
    """A stored time in ``tz``: rows of a list share many (every report of a cycle has the
    same deadline), and the conversion costs more than looking it up."""
    return value.astimezone(tz).isoformat()


_ListStatus = tuple[SubmissionKind | None, BillingStatus, StatusCode]


def _list_status(status: ReportStatus, kind: SubmissionKind | None) -> _ListStatus:
    return kind, billing_status(status, kind), status_code(status)


_LIST_STATUSES: dict[tuple[str, str | None], _ListStatus] = {
    (status.value, kind.value if kind else None): _list_status(status, kind)
    for status in ReportStatus
    for kind in (None, *SubmissionKind)
}
"""Every stored (status, submission kind) and what a list row shows of it, worked out once."""


def _status_of(document: dict[str, Any]) -> _ListStatus:
    status = document.get("status", ReportStatus.MSP_PREPARING)
    kind = document.get("submission_kind") or None
    known = _LIST_STATUSES.get((status, kind))
    if known is not None:
        return known
    return _list_status(ReportStatus(status), SubmissionKind(kind) if kind else None)


def billing_summary(document: dict[str, Any], lang: Language, tz: ZoneInfo) -> BillingReportSummary:
    """A list row from a stored report document (read without lines and history)."""
    kind, shown, code = _status_of(document)
    return BillingReportSummary(
        report_id=document["_id"],
        cycle=document["cycle"],
        partner_id=document["partner_id"],
        partner_name=document.get("partner_name"),
        distributor_id=document.get("distributor_id"),
        status=shown,
        status_label=BILLING_STATUS_LABELS[lang][shown],
        status_code=code,
        submission_kind=kind,
        po_number=document.get("po_number"),
        currency=document.get("currency"),
        total_amount=document.get("total_amount"),
        deadline=_time(document.get("deadline"), tz),
        updated_at=_time(document["updated_at"], tz) or "",
        version=document.get("version", 0),
    )


def discrepancy_state(line: ReportLine) -> str:
    if not line.discrepancy:
        return "none"
    return "unexplained" if is_unexplained(line) else "explained"


HIDDEN_FROM_READERS = {
    "outbox",
    "outbox_since",
    "decisions",
    "decisions_archived",
    "history_archived",
}
"""Stored fields for the writers: events to publish, recorded answers, and how many of
the oldest answers and history entries moved out (the store reads the history back)."""


def billing_report(report: Report, lang: Language, tz: ZoneInfo) -> BillingReportDetail:
    """One billing report in full, as the distributor and operations see it."""
    shown = billing_status(report.status, report.submission_kind)
    # Decisions (each action's recorded answer and events) are for redeliveries, not
    # readers: the history says who did what.
    body = report.model_dump(mode="python", exclude=HIDDEN_FROM_READERS)
    body["report_id"] = body.pop("id")
    body["status"] = shown
    body["report_status"] = report.status
    body["status_label"] = BILLING_STATUS_LABELS[lang][shown]
    body["status_code"] = status_code(report.status)
    for line, rendered in zip(report.lines, body["lines"], strict=True):
        rendered["discrepancy_state"] = discrepancy_state(line)
    # The most recent entries; the store read as many (``history_archived`` counts those
    # before them), and the history endpoint pages through them all.
    body["history"] = body["history"][-HISTORY_SHOWN:]
    body["history_total"] = report.history_archived + len(report.history)
    return BillingReportDetail.model_validate(jsonable(body, tz))


def history_entries(entries: list[HistoryEntry], tz: ZoneInfo) -> list[ReportHistoryEntry]:
    """History entries as readers see them."""
    return [ReportHistoryEntry.model_validate(jsonable(e.model_dump(), tz)) for e in entries]


def usage_summary(report: Report, lang: Language, tz: ZoneInfo) -> UsageReportSummary:
    """The partner's row of one report (its usage report's answer starts with it)."""
    return _usage_summary(
        report.id,
        report.cycle,
        report.status,
        report.deadline,
        report.partner_review,
        sum(1 for line in report.lines if is_unexplained(line)),
        report.updated_at,
        lang,
        tz,
    )


def usage_row(document: dict[str, Any], lang: Language, tz: ZoneInfo) -> UsageReportSummary:
    """A row of the partner's list from a stored report read with only what the row
    shows (``USAGE_ROW_FIELDS``): of its lines, whether each discrepancy is explained."""
    return _usage_summary(
        document["_id"],
        document["cycle"],
        ReportStatus(document.get("status", ReportStatus.MSP_PREPARING)),
        document.get("deadline"),
        document.get("partner_review", True),
        sum(
            1
            for line in document.get("lines", ())
            if unexplained(line.get("discrepancy", False), line.get("partner_comment"))
        ),
        document["updated_at"],
        lang,
        tz,
    )


def _usage_summary(
    report_id: str,
    cycle: str,
    status: ReportStatus,
    deadline: datetime | None,
    partner_review: bool,
    unexplained_lines: int,
    updated_at: datetime,
    lang: Language,
    tz: ZoneInfo,
) -> UsageReportSummary:
    code = partner_status_code(status)
    return UsageReportSummary(
        report_id=report_id,
        cycle=cycle,
        status=partner_status(status),
        status_code=code,
        status_label=PARTNER_STATUS_LABELS[lang][code],
        deadline=_time(deadline, tz),
        editable=status in EDITABLE_BY_PARTNER and partner_review,
        unexplained_discrepancies=unexplained_lines,
        updated_at=_time(updated_at, tz) or "",
    )


def _partner_history(report: Report, tz: ZoneInfo) -> list[UsageHistoryEntry]:
    """The partner's own actions and every change of the status it sees, nothing else."""
    entries: list[UsageHistoryEntry] = []
    shown: PartnerStatus | None = None
    for entry in report.history:
        status = partner_status(entry.to_status) if entry.to_status else None
        own = entry.actor_kind is ActorKind.PARTNER
        if not own and (status is None or status is shown):
            continue
        shown = status or shown
        entries.append(
            UsageHistoryEntry(
                at=_time(entry.at, tz) or "",
                actor_kind=entry.actor_kind,
                action=entry.action if own else None,
                status=status,
            )
        )
    return entries


def usage_report(report: Report, lang: Language, tz: ZoneInfo) -> UsageReportDetail:
    """The partner's usage report: units, comments and discrepancies, not the pricing."""
    return UsageReportDetail(
        **usage_summary(report, lang, tz).model_dump(),
        partner_id=report.partner_id,
        rejection_reasons=report.rejection_reasons,
        lines=[
            UsageLine(
                **line.model_dump(include=set(UsageLine.model_fields) - {"discrepancy_state"}),
                discrepancy_state=discrepancy_state(line),
            )
            for line in report.lines
        ],
        history=_partner_history(report, tz),
    )
