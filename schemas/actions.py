"""Commands from partners, distributors and Trend Micro, and who sent them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Fraction, Identifier, InboundUnits, Price


class Actor(BaseModel):
    """Who acts: the account (partner, distributor, Trend Micro) and the person."""

    model_config = ConfigDict(extra="ignore")

    account_id: Identifier
    user_id: Identifier


class _Action(BaseModel):
    model_config = ConfigDict(extra="ignore")

    report_id: Identifier
    actor: Actor


class PartnerLineEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Identifier
    chargeable_units: InboundUnits | None = None
    comment: str | None = Field(default=None, max_length=2000)


class PartnerDraftSaved(_Action):
    """Save chargeable units and comments without submitting."""

    lines: list[PartnerLineEdit] = Field(default_factory=list, max_length=1000)


class PartnerReportSubmitted(_Action):
    """Submit the usage report to the distributor (edits may ride along)."""

    lines: list[PartnerLineEdit] = Field(default_factory=list, max_length=1000)


class DistributorLineEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Identifier
    promo_code: Identifier | None = None
    unit_price: Price | None = None
    channel_margin: Fraction | None = None


class DistributorDraftSaved(_Action):
    """Save PO number, promotional codes and prices without submitting."""

    po_number: str | None = Field(default=None, max_length=100)
    lines: list[DistributorLineEdit] = Field(default_factory=list, max_length=1000)


class DistributorPricesReset(_Action):
    """Drop promotional codes; restore list prices and standard margins."""


class DistributorReportRejected(_Action):
    """Return the report to the partner; reasons are required."""

    reasons: list[Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=list, max_length=50
    )


class DistributorSubmittedToTrendMicro(_Action):
    """Send the billing report to Trend Micro; a PO number is required."""

    po_number: str | None = Field(default=None, max_length=100)
    comment: str | None = Field(default=None, max_length=4000)


class TrendMicroReportReturned(_Action):
    """Trend Micro needs clarification before processing."""

    reason: str = Field(default="", max_length=4000)


class TrendMicroReportCompleted(_Action):
    """Trend Micro approved the billing report."""

    reference: str | None = Field(default=None, max_length=200)
