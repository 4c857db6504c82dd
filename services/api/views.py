"""What the read API shows: the distributor's billing report, the partner's usage report.

Pure functions of documents, a language and a time zone. Times are stored in UTC and
rendered in the caller's zone; money stays an exact decimal string.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from schemas.api import (
    BillingReportSummary,
    BillingStatus,
    PartnerStatus,
    UsageHistoryEntry,
    UsageLine,
    UsageReportDetail,
    UsageReportSummary,
)
from schemas.report import (
    ActorKind,
    Report,
    ReportLine,
    ReportStatus,
    StatusCode,
    SubmissionKind,
)
from services.domain.figures import is_unexplained
from services.domain.status import (
    EDITABLE_BY_PARTNER,
    billing_status,
    partner_status,
    partner_status_code,
    status_code,
)

Language = Literal["en", "fr"]
LANGUAGES: tuple[Language, ...] = ("en", "fr")

BILLING_STATUS_LABELS: dict[Language, dict[BillingStatus, str]] = {
    "en": {
        BillingStatus.MSP_PREPARING: "MSP preparing",
        BillingStatus.UNDER_REVIEW: "Under review",
        BillingStatus.MANUAL_SUBMISSION: "Manual submission",
        BillingStatus.AUTOMATIC_SUBMISSION: "Automatic submission (no penalties)",
        BillingStatus.AUTOMATIC_SUBMISSION_PENALTIES: "Automatic submission (Penalties)",
        BillingStatus.RETURNED_BY_TRENDMICRO: "Returned by Trend Micro",
        BillingStatus.REJECTED: "Rejected (Returned to partner)",
        BillingStatus.SUBMITTED_TO_TRENDMICRO: "Submitted to Trend Micro",
        BillingStatus.COMPLETED: "Completed",
    },
    "fr": {
        BillingStatus.MSP_PREPARING: "Préparation du MSP",
        BillingStatus.UNDER_REVIEW: "En cours de vérification",
        BillingStatus.MANUAL_SUBMISSION: "Soumission manuelle",
        BillingStatus.AUTOMATIC_SUBMISSION: "Soumission automatique (sans pénalités)",
        BillingStatus.AUTOMATIC_SUBMISSION_PENALTIES: "Soumission automatique (pénalités)",
        BillingStatus.RETURNED_BY_TRENDMICRO: "Renvoyé par Trend Micro",
        BillingStatus.REJECTED: "Rejeté (renvoyé au partenaire)",
        BillingStatus.SUBMITTED_TO_TRENDMICRO: "Soumis à Trend Micro",
        BillingStatus.COMPLETED: "Terminé",
    },
}

PARTNER_STATUS_LABELS: dict[Language, dict[StatusCode, str]] = {
    "en": {
        StatusCode.MSP_PREPARING: "MSP preparing",
        StatusCode.UNDER_REVIEW: "Under review",
        StatusCode.APPROVED: "Approved",
        StatusCode.REJECTED: "Rejected",
    },
    "fr": {
        StatusCode.MSP_PREPARING: "Préparation du fournisseur de services gérés (MSP)",
        StatusCode.UNDER_REVIEW: "En cours de vérification",
        StatusCode.APPROVED: "Approuvé",
        StatusCode.REJECTED: "Rejeté",
    },
}

DISCREPANCY_LABELS: dict[Language, dict[str, str]] = {
    "en": {"none": "", "explained": "explained", "unexplained": "unexplained"},
    "fr": {"none": "", "explained": "justifiée", "unexplained": "non justifiée"},
}

LIST_COLUMNS: dict[Language, list[str]] = {
    "en": [
        "Report",
        "Report cycle",
        "Partner ID",
        "Partner",
        "Distributor",
        "Status",
        "Status code",
        "Submission kind",
        "PO number",
        "Currency",
        "Total amount",
        "Deadline",
        "Updated",
    ],
    "fr": [
        "Rapport",
        "Cycle de rapports",
        "ID partenaire",
        "Partenaire",
        "Distributeur",
        "État",
        "Code d'état",
        "Type de soumission",
        "Numéro de bon de commande",
        "Devise",
        "Montant total",
        "Date limite",
        "Mis à jour",
    ],
}

LINE_COLUMNS: dict[Language, list[str]] = {
    "en": [
        "Report",
        "Report cycle",
        "Partner ID",
        "Status",
        "Product",
        "Provisioned units",
        "Used units",
        "Over-provisioned %",
        "Chargeable units",
        "Discrepancy",
        "Partner comment",
        "Unit price",
        "Channel margin",
        "Promo code",
        "Subtotal",
        "Currency",
        "Total amount",
        "PO number",
    ],
    "fr": [
        "Rapport",
        "Cycle de rapports",
        "ID partenaire",
        "État",
        "Produit",
        "Unités fournies",
        "Unités utilisées",
        "Surprovisionnement %",
        "Unités facturables",
        "Divergence",
        "Commentaire du partenaire",
        "Prix unitaire",
        "Marge du canal",
        "Code promotionnel",
        "Sous-total",
        "Devise",
        "Montant total",
        "Numéro de bon de commande",
    ],
}


def negotiate_language(accept_language: str | None) -> Language:
    """The best of English and French for an ``Accept-Language`` header; English by default."""
    best: tuple[float, Language] = (0.0, "en")
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary == "*":
            primary = "en"
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > best[0]:
            best = (quality, primary)
    return best[1]


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
    return None if value is None else value.astimezone(tz).isoformat()


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


def billing_report(report: Report, lang: Language, tz: ZoneInfo) -> dict[str, Any]:
    """One billing report in full, as the distributor and operations see it."""
    shown = billing_status(report.status, report.submission_kind)
    # Decisions (each action's recorded answer and events) are for redeliveries, not
    # readers: the history says who did what.
    body = report.model_dump(mode="python", exclude={"outbox", "outbox_since", "decisions"})
    body["report_id"] = body.pop("id")
    body["status"] = shown
    body["report_status"] = report.status
    body["status_label"] = BILLING_STATUS_LABELS[lang][shown]
    body["status_code"] = status_code(report.status)
    for line, rendered in zip(report.lines, body["lines"], strict=True):
        rendered["discrepancy_state"] = discrepancy_state(line)
    return dict(jsonable(body, tz))


def usage_summary(report: Report, lang: Language, tz: ZoneInfo) -> UsageReportSummary:
    code = partner_status_code(report.status)
    return UsageReportSummary(
        report_id=report.id,
        cycle=report.cycle,
        status=partner_status(report.status),
        status_code=code,
        status_label=PARTNER_STATUS_LABELS[lang][code],
        deadline=_time(report.deadline, tz),
        editable=report.status in EDITABLE_BY_PARTNER and report.partner_review,
        unexplained_discrepancies=sum(1 for line in report.lines if is_unexplained(line)),
        updated_at=_time(report.updated_at, tz) or "",
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


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (numbers here are never
    negative, so only text that came from outside can start with these)."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def list_row(summary: BillingReportSummary) -> list[str]:
    return [
        _text(cell)
        for cell in (
            summary.report_id,
            summary.cycle,
            summary.partner_id,
            summary.partner_name,
            summary.distributor_id,
            summary.status_label,
            str(int(summary.status_code)),
            summary.submission_kind.value if summary.submission_kind else None,
            summary.po_number,
            summary.currency,
            _cell(summary.total_amount),
            summary.deadline,
            summary.updated_at,
        )
    ]


def line_rows(report: Report, lang: Language) -> list[list[str]]:
    shown = billing_status(report.status, report.submission_kind)
    status_label = BILLING_STATUS_LABELS[lang][shown]
    return [
        [
            _text(_cell(cell))
            for cell in (
                report.id,
                report.cycle,
                report.partner_id,
                status_label,
                line.product_id,
                line.provisioned_units,
                line.used_units,
                line.overprovisioned_pct,
                line.chargeable_units,
                DISCREPANCY_LABELS[lang][discrepancy_state(line)],
                line.partner_comment,
                line.unit_price,
                line.channel_margin,
                line.promo_code,
                line.subtotal,
                report.currency,
                report.total_amount,
                report.po_number,
            )
        ]
        for line in report.lines
    ]


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """Rows as CSV (RFC 4180 quoting, CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()
