"""Price list and promotional codes from Trend Micro (``lmp.pricing.v1``, compacted)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import CurrencyCode, Identifier, InboundFraction, Price, Timestamp


class PromoEditableField(StrEnum):
    """What a verified promotional code unlocks; a regional setting."""

    UNIT_PRICE = "unit_price"
    CHANNEL_MARGIN = "channel_margin"


class PromoKind(StrEnum):
    BID_DESK_NUMBER = "bid_desk_number"
    PROMOTE_CODE = "promote_code"


class PriceListed(BaseModel):
    """The list price and standard channel margin of one product in one region."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "region": "EMEA",
                    "product_id": "TM-WFBS",
                    "currency": "EUR",
                    "unit_price": "10.00",
                    "channel_margin": "0.20",
                    "promo_editable_field": "unit_price",
                }
            ]
        },
    )

    region: Identifier
    product_id: Identifier
    currency: CurrencyCode
    unit_price: Price
    channel_margin: InboundFraction
    promo_editable_field: PromoEditableField = PromoEditableField.UNIT_PRICE


class PromotionPublished(BaseModel):
    """A Bid Desk Number or Promote Code: valid for a region, products and dates.

    ``valid_until`` must be after ``valid_from``: a rule a JSON Schema cannot state."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "code": "BDN-2026-0001",
                    "kind": "bid_desk_number",
                    "region": "EMEA",
                    "product_ids": ["TM-WFBS"],
                    "valid_from": "2026-11-01T00:00:00Z",
                    "valid_until": "2027-01-31T00:00:00Z",
                }
            ]
        },
    )

    code: Identifier
    kind: PromoKind
    region: Identifier
    product_ids: list[Identifier] = Field(min_length=1, max_length=10_000)
    valid_from: Timestamp
    valid_until: Timestamp

    @model_validator(mode="after")
    def _dates_in_order(self) -> PromotionPublished:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self
