"""Commands from partners, distributors and Trend Micro, and who sent them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict, JsonValue

from schemas.common import Identifier, InboundFraction, InboundUnits, Price

# The examples act on report P-1001:2026-11 (docs/contract.md); `lmp-billing example`
# moves them to the current cycle when it prints them.
_EXAMPLE_REPORT = "P-1001:2026-11"
_BY_PARTNER: JsonDict = {"account_id": "P-1001", "user_id": "u-anna"}
_BY_DISTRIBUTOR: JsonDict = {"account_id": "D-EMEA", "user_id": "u-marc"}
_BY_TRENDMICRO: JsonDict = {"account_id": "trendmicro", "user_id": "u-billing-desk"}


def _example(actor: JsonDict, **data: JsonValue) -> ConfigDict:
    """An action's ``examples`` in its JSON Schema: on the example report, by ``actor``."""
    return ConfigDict(
        json_schema_extra={"examples": [{"report_id": _EXAMPLE_REPORT, "actor": actor, **data}]}
    )


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

    model_config = _example(
        _BY_PARTNER,
        lines=[{"product_id": "TM-WFBS", "comment": "two seats kept for onboarding"}],
    )

    lines: list[PartnerLineEdit] = Field(default_factory=list, max_length=1000)


class PartnerReportSubmitted(_Action):
    """Submit the usage report to the distributor (edits may ride along)."""

    model_config = _example(_BY_PARTNER)

    lines: list[PartnerLineEdit] = Field(default_factory=list, max_length=1000)


class DistributorLineEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Identifier
    promo_code: Identifier | None = None
    unit_price: Price | None = None
    channel_margin: InboundFraction | None = None


class DistributorDraftSaved(_Action):
    """Save PO number, promotional codes and prices without submitting."""

    model_config = _example(
        _BY_DISTRIBUTOR,
        po_number="PO-2026-1101",
        lines=[{"product_id": "TM-WFBS", "promo_code": "BDN-2026-0001", "unit_price": "9.50"}],
    )

    po_number: str | None = Field(default=None, max_length=100)
    lines: list[DistributorLineEdit] = Field(default_factory=list, max_length=1000)


class DistributorPricesReset(_Action):
    """Drop promotional codes; restore list prices and standard margins."""

    model_config = _example(_BY_DISTRIBUTOR)


class DistributorReportRejected(_Action):
    """Return the report to the partner; reasons are required."""

    model_config = _example(
        _BY_DISTRIBUTOR, reasons=["please explain the seats kept for onboarding"]
    )

    reasons: list[Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=list, max_length=50
    )


class DistributorSubmittedToTrendMicro(_Action):
    """Send the billing report to Trend Micro; a PO number is required."""

    model_config = _example(
        _BY_DISTRIBUTOR, po_number="PO-2026-1101", comment="November usage, list prices"
    )

    po_number: str | None = Field(default=None, max_length=100)
    comment: str | None = Field(default=None, max_length=4000)


class TrendMicroReportReturned(_Action):
    """Trend Micro needs clarification before processing."""

    model_config = _example(_BY_TRENDMICRO, reason="the PO number is not on file")

    reason: str = Field(default="", max_length=4000)


class TrendMicroReportCompleted(_Action):
    """Trend Micro approved the billing report."""

    model_config = _example(_BY_TRENDMICRO, reference="TM-2026-42")

    reference: str | None = Field(default=None, max_length=200)


Action = (
    PartnerDraftSaved
    | PartnerReportSubmitted
    | DistributorDraftSaved
    | DistributorPricesReset
    | DistributorReportRejected
    | DistributorSubmittedToTrendMicro
    | TrendMicroReportReturned
    | TrendMicroReportCompleted
)
"""Every action a person (or Trend Micro) takes on a report."""
