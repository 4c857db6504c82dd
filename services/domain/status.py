"""Status codes and the views partners and distributors have of a status."""

from __future__ import annotations

from schemas.report import ReportStatus, StatusCode, SubmissionKind
from schemas.status import BillingStatus, PartnerStatus

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


_UNDER_REVIEW_BY_KIND = {
    SubmissionKind.MANUAL: BillingStatus.MANUAL_SUBMISSION,
    SubmissionKind.AUTOMATIC: BillingStatus.AUTOMATIC_SUBMISSION,
    SubmissionKind.AUTOMATIC_WITH_PENALTIES: BillingStatus.AUTOMATIC_SUBMISSION_PENALTIES,
}

BILLING_STATUS_CRITERIA: dict[BillingStatus, tuple[ReportStatus, SubmissionKind | None]] = {
    **{
        billing: (ReportStatus.UNDER_REVIEW, kind)
        for kind, billing in _UNDER_REVIEW_BY_KIND.items()
    },
    BillingStatus.UNDER_REVIEW: (ReportStatus.UNDER_REVIEW, None),
    **{
        BillingStatus(status.value): (status, None)
        for status in ReportStatus
        if status is not ReportStatus.UNDER_REVIEW
    },
}
"""What each status of the distributor's filter means: a status, and maybe a kind."""


def billing_status(status: ReportStatus, kind: SubmissionKind | None) -> BillingStatus:
    """The distributor's name for a report's state: Under review says how it arrived."""
    if status is ReportStatus.UNDER_REVIEW and kind is not None:
        return _UNDER_REVIEW_BY_KIND[kind]
    return BillingStatus(status.value)


_PARTNER_STATUS = {
    StatusCode.MSP_PREPARING: PartnerStatus.MSP_PREPARING,
    StatusCode.UNDER_REVIEW: PartnerStatus.UNDER_REVIEW,
    StatusCode.APPROVED: PartnerStatus.APPROVED,
    StatusCode.REJECTED: PartnerStatus.REJECTED,
    StatusCode.COMPLETED: PartnerStatus.APPROVED,
}


def partner_status(status: ReportStatus) -> PartnerStatus:
    """The partner's name for a status: one of four, Completed is Approved to it."""
    return _PARTNER_STATUS[status_code(status)]


def partner_status_code(status: ReportStatus) -> StatusCode:
    """The status code of the partner's view: Completed shows as Approved (2)."""
    code = status_code(status)
    return StatusCode.APPROVED if code is StatusCode.COMPLETED else code
