"""Outbound events: report events, penalties, submissions to Trend Micro, dead letters."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from schemas.common import Cycle, Fraction, Identifier, Money, Percentage, Units
from schemas.report import ReportStatus, StatusCode, SubmissionKind


class ReportEvent(BaseModel):
    """What every ``lmp.report.*`` event says about the report it concerns."""

    report_id: Identifier
    partner_id: Identifier
    distributor_id: str | None
    cycle: Cycle
    status: ReportStatus
    status_code: StatusCode
    submission_kind: SubmissionKind | None = None
    version: int
    deadline: AwareDatetime | None = None
    by_account_id: str | None = None
    by_user_id: str | None = None
    caused_by: str | None = Field(default=None, description="id of the message that caused it")
    reasons: list[str] = Field(default_factory=list)
    comment: str | None = None


class LateUsage(ReportEvent):
    """Usage arrived after the report left MSP preparing / Rejected; kept, not applied."""

    product_id: Identifier
    subscription_id: Identifier
    provisioned_units: Units
    used_units: Units | None


class ReminderLine(BaseModel):
    product_id: Identifier
    provisioned_units: Units
    chargeable_units: Units
    penalty_units: Units
    amount: Money | None


class DeadlineReminder(ReportEvent):
    """Published 3 days and 1 day before the deadline, with a penalty preview."""

    days_before: int
    unexplained_lines: list[ReminderLine]
    penalty_preview_amount: Money | None


class ActionRejected(BaseModel):
    """A well-formed action that is not allowed; the reason is for a person."""

    action_id: str
    action_type: str
    report_id: str | None
    actor_account_id: str | None
    actor_user_id: str | None
    reason: str


class PenaltyLine(BaseModel):
    product_id: Identifier
    provisioned_units: Units
    used_units: Units | None
    chargeable_before: Units
    chargeable_after: Units
    units_added: Units
    amount_added: Money | None


class PenaltyAssessed(BaseModel):
    """Automatic submission with unexplained discrepancies: what it cost."""

    report_id: Identifier
    partner_id: Identifier
    distributor_id: str | None
    cycle: Cycle
    currency: str | None
    lines: list[PenaltyLine]
    amount_added: Money | None


class BillingLine(BaseModel):
    product_id: Identifier
    provisioned_units: Units
    used_units: Units | None
    overprovisioned_pct: Percentage | None
    chargeable_units: Units
    partner_comment: str | None
    unit_price: Money | None
    channel_margin: Fraction | None
    promo_code: str | None
    subtotal: Money | None


class BillingSubmitted(BaseModel):
    """The whole billing report as Trend Micro receives it."""

    report_id: Identifier
    partner_id: Identifier
    partner_name: str | None
    distributor_id: str | None
    region: str | None
    currency: str | None
    cycle: Cycle
    po_number: str
    submission_kind: SubmissionKind | None
    comments_to_trendmicro: str | None
    lines: list[BillingLine]
    total_amount: Money | None
    version: int


class RecordHeader(BaseModel):
    """One header of a Kafka record, its value as text when UTF-8, else in base64."""

    name: str
    value: str | None = None
    value_base64: str | None = None


class DeadLetter(BaseModel):
    """A message that could not be applied, with where it came from and why.

    The original bytes are kept once: as text when they are UTF-8 (``value``), else in
    base64 (``value_base64``). Over the size cap neither is kept (``value_omitted``): the
    record is then read at its origin (topic, partition, offset) while the topic retains it.
    The original headers (a binary-mode event's attributes) are kept too, in order; only
    when they alone pass the cap are they left out as well (``headers_omitted``).
    """

    topic: str
    partition: int
    offset: int
    key: str | None = Field(default=None, description="the original key, as UTF-8 text")
    key_base64: str | None = Field(default=None, description="the original key when not UTF-8")
    value: str | None = Field(default=None, description="the original bytes, when UTF-8")
    value_base64: str | None = Field(default=None, description="the original bytes, when not")
    value_size: int | None = Field(default=None, description="bytes; None for a tombstone")
    value_omitted: bool = Field(
        default=False, description="over the size cap: read it at topic, partition, offset"
    )
    error_kind: str = Field(
        description="parse | schema | unknown_type | tombstone | conflict | processing_error"
    )
    error: str
    processor: str
    message_id: str | None = None
    headers: list[RecordHeader] = Field(
        default_factory=list, description="the original record's headers, in order"
    )
    headers_omitted: bool = Field(
        default=False, description="over the size cap: read them at topic, partition, offset"
    )
