"""Inbound numbers are strict and bounded; money is rounded in each currency's minor unit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from schemas.accounts import PartnerAccount
from schemas.actions import DistributorLineEdit, PartnerLineEdit
from schemas.pricing import PriceListed
from services.domain.calendar import stored_precision
from services.domain.money import AmountOutOfRange, minor_unit, round_money

pytestmark = pytest.mark.unit


def price(**fields: object) -> dict[str, object]:
    return {
        "region": "EMEA",
        "product_id": "AV",
        "currency": "EUR",
        "unit_price": "2.50",
        "channel_margin": "0.2",
        **fields,
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"unit_price": "1E+30"},
        {"unit_price": "1000000000000"},
        {"unit_price": "0.0000001"},
        {"unit_price": "-1"},
        {"unit_price": "NaN"},
        {"channel_margin": "1.5"},
        {"channel_margin": "0.12345678"},
        {"currency": "XYZ"},
        {"currency": "XAU"},
        {"currency": "eur"},
    ],
)
def test_prices_out_of_range_fail_their_schema(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PriceListed.model_validate(price(**fields))


def test_prices_within_range_are_exact() -> None:
    listed = PriceListed.model_validate(price(unit_price="999999999999.999999", currency="KWD"))
    assert listed.unit_price == Decimal("999999999999.999999")


@pytest.mark.parametrize("units", ["5", True, 5.0, 10**12 + 1, -1])
def test_units_set_by_a_partner_are_strict_and_bounded(units: object) -> None:
    with pytest.raises(ValidationError):
        PartnerLineEdit.model_validate({"product_id": "AV", "chargeable_units": units})


def test_a_distributor_price_is_bounded_like_a_list_price() -> None:
    with pytest.raises(ValidationError):
        DistributorLineEdit.model_validate({"product_id": "AV", "unit_price": "1E+30"})


def test_an_account_currency_is_iso_4217_and_its_threshold_a_percentage() -> None:
    base = {"partner_id": "P", "name": "P", "distributor_id": "D", "region": "R"}
    assert PartnerAccount.model_validate({**base, "currency": "JPY"}).usage_reports is True
    with pytest.raises(ValidationError):
        PartnerAccount.model_validate({**base, "currency": "ZZZ"})
    with pytest.raises(ValidationError):
        PartnerAccount.model_validate(
            {**base, "currency": "EUR", "overprovision_threshold_pct": "101"}
        )


def test_each_currency_rounds_to_its_own_minor_unit() -> None:
    assert minor_unit("EUR") == Decimal("0.01")
    assert minor_unit("JPY") == Decimal("1")
    assert minor_unit("KWD") == Decimal("0.001")
    assert minor_unit(None) == Decimal("0.01")
    assert str(round_money(Decimal("2.5"), "JPY")) == "3"
    assert str(round_money(Decimal("1.0005"), "KWD")) == "1.001"


def test_an_amount_beyond_any_bill_is_an_error_not_a_figure() -> None:
    with pytest.raises(AmountOutOfRange):
        round_money(Decimal("1E+30"), "EUR")
    with pytest.raises(AmountOutOfRange):
        round_money(Decimal("Infinity"), "EUR")


def test_times_are_cut_to_what_the_database_keeps() -> None:
    moment = datetime(2026, 11, 2, 9, 0, 1, 123456, tzinfo=UTC)
    assert stored_precision(moment) == datetime(2026, 11, 2, 9, 0, 1, 123000, tzinfo=UTC)
