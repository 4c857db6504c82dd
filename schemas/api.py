"""The read API's documents: API keys, list queries and the answers it gives."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.common import Cycle, Identifier, Money, Percentage, Units
from schemas.report import ActorKind, StatusCode, SubmissionKind


class Role(StrEnum):
    PARTNER = "partner"
    DISTRIBUTOR = "distributor"
    OPERATIONS = "operations"


class ApiKey(BaseModel):
    """A stored key: only a hash of its secret is kept."""

    model_config = ConfigDict(populate_by_name=True)

    key_id: str = Field(alias="_id")
    secret_sha256: str
    role: Role
    account_id: str | None = Field(
        default=None, description="the partner or distributor the key acts for"
    )
    name: str = ""
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = None


class BillingStatus(StrEnum):
    """The distributor's status filter: Under review splits by submission kind."""

    MSP_PREPARING = "msp_preparing"
    UNDER_REVIEW = "under_review"
    MANUAL_SUBMISSION = "manual_submission"
    AUTOMATIC_SUBMISSION = "automatic_submission"
    AUTOMATIC_SUBMISSION_PENALTIES = "automatic_submission_penalties"
    RETURNED_BY_TRENDMICRO = "returned_by_trendmicro"
    REJECTED = "rejected"
    SUBMITTED_TO_TRENDMICRO = "submitted_to_trendmicro"
    COMPLETED = "completed"


class SortKey(StrEnum):
    CYCLE_DESC = "-cycle"
    CYCLE = "cycle"
    PARTNER_ID = "partner_id"
    PARTNER_ID_DESC = "-partner_id"
    DEADLINE = "deadline"
    DEADLINE_DESC = "-deadline"
    UPDATED_AT_DESC = "-updated_at"
    UPDATED_AT = "updated_at"


class ReportQuery(BaseModel):
    """A list query: cycle or cycle range, statuses, partners, sort and page."""

    model_config = ConfigDict(extra="forbid")

    cycle: Cycle | None = Field(default=None, description="one report cycle, YYYY-MM")
    cycle_from: Cycle | None = Field(default=None, description="first cycle of a range")
    cycle_to: Cycle | None = Field(default=None, description="last cycle of a range")
    status: list[BillingStatus] = Field(
        default_factory=list, description="repeat for several; empty means every status"
    )
    partner: str | None = Field(
        default=None,
        max_length=100,
        description="'all' (the default) or a search string matched in partner id and name",
    )
    sort: SortKey = SortKey.CYCLE_DESC
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(
        default=50, ge=1, description="at most LMP_API_PAGE_SIZE_MAX (500 by default)"
    )

    @model_validator(mode="after")
    def _one_way_to_say_cycle(self) -> ReportQuery:
        if self.cycle and (self.cycle_from or self.cycle_to):
            raise ValueError("give either cycle or cycle_from/cycle_to, not both")
        if self.cycle_from and self.cycle_to and self.cycle_from > self.cycle_to:
            raise ValueError("cycle_from must not be after cycle_to")
        return self

    @property
    def partner_search(self) -> str | None:
        term = (self.partner or "").strip()
        return None if term.lower() in ("", "all") else term


class UsageQuery(BaseModel):
    """The partner's view: the last 12 months, or one year."""

    model_config = ConfigDict(extra="forbid")

    year: int | None = Field(default=None, ge=2000, le=2100)
    partner_id: Identifier | None = Field(
        default=None, description="which partner (distributor and operations keys only)"
    )


class BillingReportSummary(BaseModel):
    """One row of the distributor's list."""

    report_id: str
    cycle: Cycle
    partner_id: str
    partner_name: str | None
    distributor_id: str | None
    status: BillingStatus
    status_label: str
    status_code: StatusCode
    submission_kind: SubmissionKind | None
    po_number: str | None
    currency: str | None
    total_amount: Money | None
    deadline: str | None
    updated_at: str
    version: int


class Page(BaseModel):
    items: list[BillingReportSummary]
    page: int
    page_size: int
    total: int
    pages: int


class PartnerStatus(StrEnum):
    """The partner's four names (SPEC section 3): Approved covers Submitted to Trend
    Micro, Returned by Trend Micro and Completed."""

    MSP_PREPARING = "msp_preparing"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"


class UsageReportSummary(BaseModel):
    """One row of the partner's list, in the partner's status names."""

    report_id: str
    cycle: Cycle
    status: PartnerStatus
    status_code: StatusCode
    status_label: str
    deadline: str | None
    editable: bool
    unexplained_discrepancies: int
    updated_at: str


class UsageReportList(BaseModel):
    partner_id: str
    from_cycle: Cycle
    to_cycle: Cycle
    items: list[UsageReportSummary]


class UsageLine(BaseModel):
    """A line as the partner sees it: units and comments, no pricing."""

    product_id: str
    provisioned_units: Units
    used_units: Units | None
    overprovisioned_pct: Percentage | None
    chargeable_units: Units
    partner_comment: str | None
    discrepancy: bool
    discrepancy_state: str = Field(description="none, explained or unexplained")
    late_usage: bool
    penalty_units: Units


class UsageHistoryEntry(BaseModel):
    """What happened, in the partner's terms: its own actions, and status changes."""

    at: str
    actor_kind: ActorKind
    action: str | None = Field(default=None, description="the partner's own actions only")
    status: PartnerStatus | None = None


class UsageReportDetail(UsageReportSummary):
    partner_id: str
    rejection_reasons: list[str]
    lines: list[UsageLine]
    history: list[UsageHistoryEntry]


class Problem(BaseModel):
    """Every error answer."""

    error: str
    message: str
