"""Reports as CSV rows: the list's summaries and one report's lines, safe for spreadsheets."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from schemas.api import BillingReportSummary
from schemas.report import Report
from services.api.views import discrepancy_state
from services.domain.labels import BILLING_STATUS_LABELS, DISCREPANCY_LABELS, Language
from services.domain.status import billing_status

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
