"""Value types shared by every message and document.

Inbound numbers are strict and bounded here, at the edge, so that no figure computed
from them can overflow later: units are JSON integers (not strings, not booleans) up
to ``MAX_UNITS``; prices have at most ``PRICE_DIGITS`` digits, ``PRICE_PLACES`` of them
after the point. Stored and computed amounts (``Money``) are only required to be finite.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from iso4217 import Currency
from pydantic import AfterValidator, Field, PlainSerializer, Strict

MAX_UNITS = 10**12
"""Most units one message may report or set: a line sums many, and must fit in int64."""

PRICE_DIGITS = 18
PRICE_PLACES = 6


_AS_STRING = PlainSerializer(lambda v: str(v), return_type=str, when_used="always")

Money = Annotated[Decimal, _AS_STRING]
"""An exact decimal amount; serialized as a string so no float ever touches it.

pydantic refuses NaN and infinities for every ``Decimal`` (``finite_number``)."""

Price = Annotated[
    Decimal,
    Field(ge=0, max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES),
    _AS_STRING,
]
"""An inbound unit price: exact, bounded, never negative."""

Fraction = Annotated[
    Decimal,
    Field(ge=0, le=1, max_digits=PRICE_PLACES + 1, decimal_places=PRICE_PLACES),
    _AS_STRING,
]
"""A channel margin, 0 to 1 (0.15 is 15 %)."""

Percentage = Annotated[Decimal, _AS_STRING]

Threshold = Annotated[
    Decimal,
    Field(ge=0, le=100, max_digits=5, decimal_places=2),
    _AS_STRING,
]
"""An over-provisioning threshold in percent, as an account sets it."""

Cycle = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-10"])]
"""A calendar month, ``YYYY-MM``."""

Units = Annotated[int, Field(ge=0)]
"""Units in a document: computed sums, never from outside unchecked."""

InboundUnits = Annotated[int, Strict(), Field(ge=0, le=MAX_UNITS)]
"""Units in a message: a JSON integer, 0 to ``MAX_UNITS``."""

Identifier = Annotated[str, Field(min_length=1, max_length=200)]


def _iso_currency(code: str) -> str:
    try:
        currency = Currency(code)
    except ValueError:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code") from None
    if currency.exponent is None:
        raise ValueError(f"{code!r} is not a currency with a minor unit (ISO 4217 'N.A.')")
    return code


CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_iso_currency)]
"""An ISO 4217 currency that has a minor unit (EUR, JPY, KWD...)."""
