"""Value types shared by every message and document.

Inbound numbers are strict and bounded here, at the edge, so that no figure computed
from them can overflow later: units are JSON integers (not strings, not booleans) up
to ``MAX_UNITS``; prices have at most ``PRICE_DIGITS`` digits, ``PRICE_PLACES`` of them
after the point. Stored and computed amounts (``Money``) are only required to be finite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from iso4217 import Currency
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    Strict,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

MAX_UNITS = 10**12
"""Most units one message may report or set: a line sums many, and must fit in int64."""

PRICE_DIGITS = 18
PRICE_PLACES = 6


_AS_STRING = PlainSerializer(lambda v: str(v), return_type=str, when_used="always")

Money = Annotated[Decimal, _AS_STRING]
"""An exact decimal amount; serialized as a string so no float ever touches it.

pydantic refuses NaN and infinities for every ``Decimal`` (``finite_number``)."""


@dataclass(frozen=True)
class DecimalText:
    """How an inbound decimal is written: a plain decimal string (``pattern``) or a JSON
    integer up to ``maximum``; never a float (not an exact amount), a boolean, an exponent
    or padding. Its JSON Schema (validation mode) says exactly that; the field's own
    bounds (digits, places, range) still apply after it."""

    pattern: str
    maximum: int
    what: str

    def check(self, value: object) -> object:
        if isinstance(value, bool | float):
            kind = "boolean" if isinstance(value, bool) else "number with a fraction"
            raise ValueError(f"{self.what} is a decimal string or an integer, not a JSON {kind}")
        if isinstance(value, str) and not re.fullmatch(self.pattern, value):
            raise ValueError(f"{self.what} must be a plain decimal string ({self.pattern})")
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if handler.mode != "validation":
            return handler(schema)
        return {
            "anyOf": [
                {"type": "string", "pattern": self.pattern},
                {"type": "integer", "minimum": 0, "maximum": self.maximum},
            ]
        }


PRICE_TEXT = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,6})?$"
FRACTION_TEXT = r"^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$"
THRESHOLD_TEXT = r"^(100(\.0{1,2})?|[1-9]?[0-9](\.[0-9]{1,2})?)$"

Price = Annotated[
    Decimal,
    Field(ge=0, max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES),
    DecimalText(PRICE_TEXT, 10 ** (PRICE_DIGITS - PRICE_PLACES) - 1, "a price"),
    _AS_STRING,
]
"""An inbound unit price: exact, bounded, never negative."""

Fraction = Annotated[
    Decimal,
    Field(ge=0, le=1, max_digits=PRICE_PLACES + 1, decimal_places=PRICE_PLACES),
    _AS_STRING,
]
"""A channel margin, 0 to 1 (0.15 is 15 %)."""

InboundFraction = Annotated[Fraction, DecimalText(FRACTION_TEXT, 1, "a margin")]
"""A channel margin as a message sets it: a decimal string or 0 or 1."""

Percentage = Annotated[Decimal, _AS_STRING]

Threshold = Annotated[
    Decimal,
    Field(ge=0, le=100, max_digits=5, decimal_places=2),
    DecimalText(THRESHOLD_TEXT, 100, "a threshold"),
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


def _currencies() -> list[str]:
    return sorted(c.code for c in Currency if c.exponent is not None)


CurrencyCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", json_schema_extra={"enum": _currencies()}),
    AfterValidator(_iso_currency),
]
"""An ISO 4217 currency that has a minor unit (EUR, JPY, KWD...)."""


RFC3339_DATE_TIME = (
    r"^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
"""An RFC 3339 date-time with its offset, as the decoder reads it: upper-case ``T`` and
``Z``, seconds present, no leap second, year 0001 to 9999."""

_RFC3339 = re.compile(RFC3339_DATE_TIME)


def _rfc3339(value: object) -> object:
    if isinstance(value, datetime):  # built in Python, or read back from the database
        return value
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return value
    raise ValueError("expected an RFC 3339 date-time string such as 2026-11-20T09:30:00Z")


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "pattern": RFC3339_DATE_TIME}, mode="validation"
    ),
]
"""An inbound date-time: an RFC 3339 string with an offset (not a number, not a date)."""
