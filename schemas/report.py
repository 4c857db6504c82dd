"""The report document: the partner's usage report and the distributor's billing report."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.common import Cycle, Fraction, Identifier, Money, Percentage, Units


class ReportStatus(StrEnum):
    MSP_PREPARING = "msp_preparing"
    UNDER_REVIEW = "under_review"
    REJECTED = "rejected"
    SUBMITTED_TO_TRENDMICRO = "submitted_to_trendmicro"
    RETURNED_BY_TRENDMICRO = "returned_by_trendmicro"
    COMPLETED = "completed"


class StatusCode(IntEnum):
    """The platform API's status codes for integrators."""

    MSP_PREPARING = 0
    UNDER_REVIEW = 1
    APPROVED = 2
    REJECTED = 3
    COMPLETED = 4


class SubmissionKind(StrEnum):
    MANUAL = "manual"
    AUTOMATIC = "automatic"
    AUTOMATIC_WITH_PENALTIES = "automatic_with_penalties"


class ActorKind(StrEnum):
    UPSTREAM = "upstream"
    ACCOUNTS = "accounts"
    PARTNER = "partner"
    DISTRIBUTOR = "distributor"
    TRENDMICRO = "trendmicro"
    TIMER = "timer"


class SubscriptionUsage(BaseModel):
    """Peaks seen for one subscription in the cycle; late peaks are kept apart."""

    subscription_id: Identifier
    provisioned_units: Units = 0
    used_units: Units | None = None
    late_provisioned_units: Units | None = None
    late_used_units: Units | None = None
    last_observed_at: AwareDatetime | None = None


class ReportLine(BaseModel):
    """One product of the report."""

    product_id: Identifier
    subscriptions: list[SubscriptionUsage] = Field(default_factory=list)
    provisioned_units: Units = 0
    used_units: Units | None = None
    overprovisioned_pct: Percentage | None = None
    chargeable_units: Units = 0
    chargeable_set_by_partner: bool = False
    partner_comment: str | None = None
    discrepancy: bool = False
    list_unit_price: Money | None = None
    unit_price: Money | None = None
    standard_channel_margin: Fraction | None = None
    channel_margin: Fraction | None = None
    promo_code: str | None = None
    subtotal: Money | None = None
    late_usage: bool = False
    penalty_units: Units = 0


class HistoryEntry(BaseModel):
    """Who did what, when, from which message."""

    model_config = ConfigDict(frozen=True)

    at: AwareDatetime
    actor_kind: ActorKind
    account_id: str | None = None
    user_id: str | None = None
    action: str
    message_id: str | None = None
    payload_hash: str | None = None
    from_status: ReportStatus | None = None
    to_status: ReportStatus | None = None
    note: str | None = None


class OutboxEntry(BaseModel):
    """An event committed with the report, published after the write, then cleared."""

    model_config = ConfigDict(frozen=True)

    id: str
    topic: str
    key: str
    value: str


class Decision(BaseModel):
    """The recorded answer to one inbound action, stored with its effect.

    A later delivery of the same message id (and payload) gets these events again,
    byte for byte, whatever happened to the report since.
    """

    model_config = ConfigDict(frozen=True)

    topic: str = Field(description="the contract name of the topic the action came on")
    message_id: str
    payload_hash: str
    action_type: str
    outcome: Literal["applied", "refused"]
    reason: str | None = None
    decided_at: AwareDatetime
    events: list[OutboxEntry] = Field(default_factory=list)


class OrphanOutcome(BaseModel):
    """An answer kept outside its report document, by ``<topic>|<message id>``.

    In ``outcomes``: a refusal (of an action on a report that did not exist, or on one
    it changed nothing in). In ``answers``: an applied decision moved out of a long
    report (see docs/bounded-reports.md).
    """

    model_config = ConfigDict(populate_by_name=True)

    key: str = Field(alias="_id")
    report_id: str
    decision: Decision
    at: AwareDatetime


class HistoryRecord(BaseModel):
    """A history entry moved out of its report, kept by ``<report id>|<sequence>``."""

    model_config = ConfigDict(populate_by_name=True)

    key: str = Field(alias="_id")
    report_id: str
    seq: int = Field(ge=0, description="the entry's position in the report's whole history")
    entry: HistoryEntry


class Report(BaseModel):
    """One report per (partner, cycle); ``_id`` is ``partner_id:cycle``."""

    model_config = ConfigDict(populate_by_name=True)

    id: Identifier = Field(alias="_id")
    partner_id: Identifier
    cycle: Cycle
    partner_name: str | None = None
    distributor_id: str | None = None
    region: str | None = None
    currency: str | None = None
    auto_submit_days: int | None = None
    overprovision_threshold_pct: Percentage | None = None
    account_pending: bool = True
    partner_review: bool = Field(
        default=True,
        description="the partner may review and submit; False when its account type or "
        "region has no access to usage reports (submitted automatically, no penalties)",
    )
    status: ReportStatus = ReportStatus.MSP_PREPARING
    submission_kind: SubmissionKind | None = None
    po_number: str | None = None
    deadline: AwareDatetime | None = None
    next_reminder_at: AwareDatetime | None = None
    reminders_sent: list[str] = Field(default_factory=list)
    comments_to_trendmicro: str | None = None
    rejection_reasons: list[str] = Field(default_factory=list)
    return_reasons: list[str] = Field(default_factory=list)
    needs_review: bool = False
    lines: list[ReportLine] = Field(default_factory=list)
    total_amount: Money | None = None
    version: int = 0
    history: list[HistoryEntry] = Field(default_factory=list)
    history_archived: int = Field(
        default=0, ge=0, description="the oldest entries of the history, kept in ``history``"
    )
    decisions: list[Decision] = Field(default_factory=list)
    decisions_archived: int = Field(
        default=0, ge=0, description="the oldest applied decisions, kept in ``answers``"
    )
    outbox: list[OutboxEntry] = Field(default_factory=list)
    outbox_since: AwareDatetime | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    expires_at: AwareDatetime | None = None

    def clone(self) -> Report:
        """An independent copy for the domain to change in place.

        The domain changes lines and their subscriptions in place and adds to the lists;
        the entries of history, decisions and outbox are frozen records, so the lists are
        new and the records shared (copying them was most of a clone of a long report).
        """
        return self.model_copy(
            update={
                "lines": [
                    line.model_copy(
                        update={"subscriptions": [s.model_copy() for s in line.subscriptions]}
                    )
                    for line in self.lines
                ],
                "reminders_sent": [*self.reminders_sent],
                "rejection_reasons": [*self.rejection_reasons],
                "return_reasons": [*self.return_reasons],
                "history": [*self.history],
                "decisions": [*self.decisions],
                "outbox": [*self.outbox],
            }
        )

    def to_document(self) -> dict[str, Any]:
        """The MongoDB document: datetimes stay dates, money stays exact strings."""
        return self.model_dump(mode="python", by_alias=True)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Report:
        return cls.model_validate(document)
