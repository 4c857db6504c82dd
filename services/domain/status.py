"""Status codes and the views partners and distributors have of a status."""

from __future__ import annotations

from schemas.report import ReportStatus, StatusCode

EDITABLE_BY_PARTNER = frozenset({ReportStatus.MSP_PREPARING, ReportStatus.REJECTED})
REVIEWABLE_BY_DISTRIBUTOR = frozenset(
    {ReportStatus.UNDER_REVIEW, ReportStatus.RETURNED_BY_TRENDMICRO}
)

_CODES = {
    ReportStatus.MSP_PREPARING: StatusCode.MSP_PREPARING,
    ReportStatus.UNDER_REVIEW: StatusCode.UNDER_REVIEW,
    ReportStatus.SUBMITTED_TO_TRENDMICRO: StatusCode.APPROVED,
    ReportStatus.RETURNED_BY_TRENDMICRO: StatusCode.APPROVED,
    ReportStatus.REJECTED: StatusCode.REJECTED,
    ReportStatus.COMPLETED: StatusCode.COMPLETED,
}


def status_code(status: ReportStatus) -> StatusCode:
    return _CODES[status]


def accepts_usage(status: ReportStatus) -> bool:
    """Usage changes the figures only while the partner can still edit the report."""
    return status in EDITABLE_BY_PARTNER
