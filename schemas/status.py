"""The names a report's status goes by for each of its readers.

The domain works these out (``services.domain.status``); the read API shows them. They
live here, beside no API, so the domain depends on no part of the API.
"""

from __future__ import annotations

from enum import StrEnum


class BillingStatus(StrEnum):
    """The distributor's names: Under review splits by submission kind."""

    MSP_PREPARING = "msp_preparing"
    UNDER_REVIEW = "under_review"
    MANUAL_SUBMISSION = "manual_submission"
    AUTOMATIC_SUBMISSION = "automatic_submission"
    AUTOMATIC_SUBMISSION_PENALTIES = "automatic_submission_penalties"
    RETURNED_BY_TRENDMICRO = "returned_by_trendmicro"
    REJECTED = "rejected"
    SUBMITTED_TO_TRENDMICRO = "submitted_to_trendmicro"
    COMPLETED = "completed"


class PartnerStatus(StrEnum):
    """The partner's four names (SPEC section 3): Approved covers Submitted to Trend
    Micro, Returned by Trend Micro and Completed."""

    MSP_PREPARING = "msp_preparing"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
