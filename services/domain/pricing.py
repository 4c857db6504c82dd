"""List prices, promotional codes and which field a verified code unlocks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from schemas.pricing import PriceListed, PromoEditableField, PromotionPublished
from schemas.report import Report
from services.domain.errors import ValidationFailed

PriceList = Mapping[str, PriceListed]
"""The region's price list of the report, by product id."""

Promotions = Mapping[str, PromotionPublished]
"""Promotional codes by code."""


def check_promotion(
    code: str, promotions: Promotions, region: str | None, product_id: str, now: datetime
) -> PromotionPublished:
    """A Bid Desk Number or Promote Code is valid for a region, products and dates."""
    promo = promotions.get(code)
    if promo is None:
        raise ValidationFailed(f"promotional code {code!r} does not exist")
    if promo.region != region:
        raise ValidationFailed(
            f"promotional code {code!r} belongs to region {promo.region}, not {region}"
        )
    if product_id not in promo.product_ids:
        raise ValidationFailed(f"promotional code {code!r} does not cover product {product_id}")
    if now < promo.valid_from:
        raise ValidationFailed(
            f"promotional code {code!r} is valid only from {promo.valid_from:%Y-%m-%d}"
        )
    if now >= promo.valid_until:
        raise ValidationFailed(f"promotional code {code!r} expired on {promo.valid_until:%Y-%m-%d}")
    return promo


def editable_field(prices: PriceList, product_id: str) -> PromoEditableField:
    """The regional setting: what a verified code lets the distributor change."""
    price = prices.get(product_id)
    return price.promo_editable_field if price else PromoEditableField.UNIT_PRICE


def apply_price_list(report: Report, prices: PriceList) -> Report:
    """Suggest list prices and standard margins on lines no promotional code overrides."""
    report = report.clone()
    for line in report.lines:
        price = prices.get(line.product_id)
        if price is None or price.currency != report.currency:
            continue
        line.list_unit_price = price.unit_price
        line.standard_channel_margin = price.channel_margin
        if line.promo_code is None:
            line.unit_price = price.unit_price
            line.channel_margin = price.channel_margin
    return report


def reset_prices(report: Report) -> Report:
    """Drop promotional codes; restore list prices and standard margins."""
    report = report.clone()
    for line in report.lines:
        line.promo_code = None
        line.unit_price = line.list_unit_price
        line.channel_margin = line.standard_channel_margin
    return report
