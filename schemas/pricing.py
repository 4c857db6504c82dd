"""Price list and promotional codes from Trend Micro (``lmp.pricing.v1``, compacted)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from schemas.common import CurrencyCode, Fraction, Identifier, Price


class PromoEditableField(StrEnum):
    """What a verified promotional code unlocks; a regional setting."""

    UNIT_PRICE = "unit_price"
    CHANNEL_MARGIN = "channel_margin"


class PromoKind(StrEnum):
    BID_DESK_NUMBER = "bid_desk_number"
    PROMOTE_CODE = "promote_code"


class PriceListed(BaseModel):
    """The list price and standard channel margin of one product in one region."""

    model_config = ConfigDict(extra="ignore")

    region: Identifier
    product_id: Identifier
    currency: CurrencyCode
    unit_price: Price
    channel_margin: Fraction
    promo_editable_field: PromoEditableField = PromoEditableField.UNIT_PRICE


class PromotionPublished(BaseModel):
    """A Bid Desk Number or Promote Code: valid for a region, products and dates."""

    model_config = ConfigDict(extra="ignore")

    code: Identifier
    kind: PromoKind
    region: Identifier
    product_ids: list[Identifier] = Field(min_length=1, max_length=10_000)
    valid_from: AwareDatetime
    valid_until: AwareDatetime

    @model_validator(mode="after")
    def _dates_in_order(self) -> PromotionPublished:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self
