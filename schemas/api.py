# Over 300 lines: every model of the read API's answers, one place as the OpenAPI lists them.
"""The read API's documents: API keys, list queries and the answers it gives.

Every answer is an ``Answer``: what the handler serializes is the model, and the OpenAPI
document is generated from the same models, so the two cannot disagree.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.common import Cycle, Fraction, Identifier, Money, Percentage, Units
from schemas.report import ActorKind, ReportStatus, StatusCode, SubmissionKind
from schemas.status import BillingStatus as BillingStatus
from schemas.status import PartnerStatus as PartnerStatus

LocalTime = Annotated[
    str,
    Field(
        description="ISO 8601, in the time zone asked with `tz` (UTC by default)",
        examples=["2026-11-06T01:00:00+01:00"],
    ),
]
"""A stored UTC time as the caller reads it."""


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


class SortKey(StrEnum):
    CYCLE_DESC = "-cycle"
    CYCLE = "cycle"
    PARTNER_ID = "partner_id"
    PARTNER_ID_DESC = "-partner_id"
    DEADLINE = "deadline"
    DEADLINE_DESC = "-deadline"
    UPDATED_AT_DESC = "-updated_at"
    UPDATED_AT = "updated_at"


CURSOR_PATTERN = r"^[0-9]{1,9}~(-|-?[0-9]{1,14})~[\s\S]{1,200}:[0-9]{4}-(0[1-9]|1[0-2])$"
"""A list cursor: the rows before the page, the last row's sort time in milliseconds
since 1970 (``-`` alone: none), and its report id. Every string of this form is a place in a
list's order, so the schema describes exactly the cursors the API takes."""


class ReportQuery(BaseModel):
    """A list query: cycles, statuses, partners, sort and page.

    Every filter given narrows the list: ``cycle`` and ``cycle_from``/``cycle_to`` may be
    combined (all of them apply), and bounds that no cycle satisfies match no report.
    """

    model_config = ConfigDict(extra="forbid")

    cycle: Cycle | None = Field(
        default=None,
        description="one report cycle, YYYY-MM; with cycle_from/cycle_to, all of them apply",
    )
    cycle_from: Cycle | None = Field(
        default=None,
        description="first cycle of a range, YYYY-MM (inclusive); after cycle_to, "
        "the range is empty and the list too",
    )
    cycle_to: Cycle | None = Field(
        default=None, description="last cycle of a range, YYYY-MM (inclusive)"
    )
    status: list[BillingStatus] = Field(
        default_factory=list,
        description="repeat for several (or separate them with commas); none means every status",
    )
    partner: str | None = Field(
        default=None,
        max_length=100,
        description="'all' (the default) or a search string matched in partner id and name, "
        "any case, any part",
    )
    sort: SortKey = Field(default=SortKey.CYCLE_DESC, description="a field; '-' sorts descending")
    page: int = Field(default=1, ge=1, le=1_000_000, description="which page, from 1")
    page_size: int = Field(
        default=50,
        ge=1,
        description="reports per page; above the server's ceiling (LMP_API_PAGE_SIZE_MAX, "
        "500 by default) the ceiling is used, and the answer's page_size says so",
    )
    cursor: str | None = Field(
        default=None,
        max_length=240,
        pattern=CURSOR_PATTERN,
        description="where the page starts: the next_cursor of the previous page (also in "
        "its Link header), sent back as it came, with the same filters and sort; page is "
        "then not used. Opaque: its form may change. A page is read by key from where the "
        "previous one ended, so on MongoDB a deep page costs what the first does.",
    )

    def cycle_bounds(self) -> tuple[str | None, str | None]:
        """The first and last cycle every given cycle filter allows (None: unbounded)."""
        lowest = max((c for c in (self.cycle, self.cycle_from) if c), default=None)
        highest = min((c for c in (self.cycle, self.cycle_to) if c), default=None)
        return lowest, highest

    @property
    def partner_search(self) -> str | None:
        term = (self.partner or "").strip()
        return None if term.lower() in ("", "all") else term


HISTORY_SHOWN = 50
"""History entries one billing report's answer carries: the most recent."""


class HistoryQuery(BaseModel):
    """A page of one report's history, oldest first."""

    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1, le=1_000_000, description="which page, from 1")
    page_size: int = Field(
        default=50,
        ge=1,
        description="entries per page; above the server's ceiling (LMP_API_PAGE_SIZE_MAX, "
        "500 by default) the ceiling is used, and the answer's page_size says so",
    )


class UsageQuery(BaseModel):
    """The partner's view: the last 12 months, or one year."""

    model_config = ConfigDict(extra="forbid")

    year: int | None = Field(default=None, ge=2000, le=2100)
    partner_id: Identifier | None = Field(
        default=None, description="which partner (distributor and operations keys only)"
    )


class Answer(BaseModel):
    """An answer of the API: exactly these fields, so the schema says no others."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})


class BillingReportSummary(Answer):
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
    deadline: LocalTime | None
    updated_at: LocalTime
    version: int


class Page(Answer):
    items: list[BillingReportSummary]
    page: int = Field(
        description="which page this is, from 1 (by cursor: counted from the rows before it)"
    )
    page_size: int
    total: int = Field(description="how many reports match the filters now")
    pages: int
    next_cursor: str | None = Field(
        description="the cursor of the next page (query parameter cursor); null on the last page"
    )


class SubscriptionPeaks(Answer):
    """Peaks seen for one subscription in the cycle; late peaks are kept apart."""

    subscription_id: str
    provisioned_units: Units
    used_units: Units | None
    late_provisioned_units: Units | None
    late_used_units: Units | None
    last_observed_at: LocalTime | None


class BillingLine(Answer):
    """One product of a billing report: units, discrepancy, prices and subtotal."""

    product_id: str
    subscriptions: list[SubscriptionPeaks]
    provisioned_units: Units
    used_units: Units | None
    overprovisioned_pct: Percentage | None
    chargeable_units: Units
    chargeable_set_by_partner: bool
    partner_comment: str | None
    discrepancy: bool
    discrepancy_state: str = Field(description="none, explained or unexplained")
    list_unit_price: Money | None
    unit_price: Money | None
    standard_channel_margin: Fraction | None
    channel_margin: Fraction | None
    promo_code: str | None
    subtotal: Money | None
    late_usage: bool
    penalty_units: Units


class ReportHistoryEntry(Answer):
    """Who did what to the report, and the status it moved between."""

    at: LocalTime
    actor_kind: ActorKind
    account_id: str | None
    user_id: str | None
    action: str
    message_id: str | None
    payload_hash: str | None
    from_status: ReportStatus | None
    to_status: ReportStatus | None
    note: str | None


class HistoryPage(Answer):
    """One page of a report's history, oldest first: entry ``(page - 1) * page_size`` on."""

    items: list[ReportHistoryEntry]
    page: int
    page_size: int
    total: int
    pages: int


class BillingReportDetail(Answer):
    """One billing report in full, as the distributor and operations see it: the stored
    report without its outbox and recorded decisions (those are for redeliveries)."""

    report_id: str
    partner_id: str
    cycle: Cycle
    partner_name: str | None
    distributor_id: str | None
    region: str | None
    currency: str | None
    auto_submit_days: int | None
    overprovision_threshold_pct: Percentage | None
    account_pending: bool
    partner_review: bool
    status: BillingStatus = Field(description="the distributor's name for the state")
    report_status: ReportStatus
    status_label: str
    status_code: StatusCode
    submission_kind: SubmissionKind | None
    po_number: str | None
    deadline: LocalTime | None
    next_reminder_at: LocalTime | None
    reminders_sent: list[str]
    comments_to_trendmicro: str | None
    rejection_reasons: list[str]
    return_reasons: list[str]
    needs_review: bool
    lines: list[BillingLine]
    total_amount: Money | None
    version: int
    history: list[ReportHistoryEntry] = Field(
        description=f"the most recent entries, at most {HISTORY_SHOWN}, oldest first; "
        "every entry, in pages: listBillingReportHistory"
    )
    history_total: int = Field(
        ge=0, description="how many entries the whole history holds (history shows the last)"
    )
    created_at: LocalTime
    updated_at: LocalTime
    expires_at: LocalTime | None


class UsageReportSummary(Answer):
    """One row of the partner's list, in the partner's status names."""

    report_id: str
    cycle: Cycle
    status: PartnerStatus
    status_code: StatusCode
    status_label: str
    deadline: LocalTime | None
    editable: bool
    unexplained_discrepancies: int
    updated_at: LocalTime


class UsageReportList(Answer):
    partner_id: str
    from_cycle: Cycle
    to_cycle: Cycle
    items: list[UsageReportSummary]


class UsageLine(Answer):
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


class UsageHistoryEntry(Answer):
    """What happened, in the partner's terms: its own actions, and status changes."""

    at: LocalTime
    actor_kind: ActorKind
    action: str | None = Field(default=None, description="the partner's own actions only")
    status: PartnerStatus | None = None


class UsageReportDetail(UsageReportSummary):
    partner_id: str
    rejection_reasons: list[str]
    lines: list[UsageLine]
    history: list[UsageHistoryEntry]


class Problem(Answer):
    """Every error answer: problem details (RFC 9457), sent as ``application/problem+json``.

    ``type`` is ``about:blank`` (the status says what kind of problem it is, RFC 9457
    section 4.2.1), ``title`` the status's phrase, ``detail`` what is wrong for this
    request, in words a person reads; ``code`` (an extension member) the same for a program.
    """

    type: str = Field(description="a URI reference naming the kind", examples=["about:blank"])
    title: str = Field(description="the HTTP status phrase", examples=["Bad Request"])
    status: int = Field(ge=400, le=599, description="the HTTP status code", examples=[400])
    detail: str = Field(
        description="what is wrong with this request; a bad parameter is named",
        examples=["page: Input should be greater than or equal to 1"],
    )
    code: str = Field(
        description="what is wrong, for a program: bad_request, unauthorized, forbidden, "
        "not_found, method_not_allowed, internal_error, unavailable (a string, not an enum: "
        "a later version may add kinds)",
        examples=["bad_request"],
    )


class Health(Answer):
    status: Literal["ok"] = "ok"


class Readiness(Answer):
    """The database answers (reads need nothing else); Kafka is reported too."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(description="`ok`, or why a dependency is unavailable")
