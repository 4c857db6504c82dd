"""Money: each currency's minor unit (ISO 4217) and the range a bill may reach.

Amounts are computed with more precision than any bounded input needs, so products
are exact; only the final rounding to the currency's minor unit loses digits. An amount
beyond ``MAX_AMOUNT`` is an error in the data, not a bill: it raises ``AmountOutOfRange``,
which callers turn into a refusal with a reason (or skip, in the timer).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from iso4217 import Currency

MAX_AMOUNT = Decimal(10) ** 24
DEFAULT_MINOR_UNIT = 2
"""For a report whose currency is not known yet (account pending)."""


class AmountOutOfRange(ArithmeticError):
    """A figure left the range a bill can have (or could not be computed exactly)."""


@lru_cache(maxsize=512)
def minor_unit(currency: str | None) -> Decimal:
    """The smallest amount of ``currency``: 0.01 for EUR, 1 for JPY, 0.001 for KWD."""
    places = DEFAULT_MINOR_UNIT
    if currency:
        try:
            exponent = Currency(currency).exponent
        except ValueError:
            exponent = None
        if exponent is not None:
            places = exponent
    return Decimal(1).scaleb(-places)


@contextmanager
def exact() -> Iterator[None]:
    """Enough digits for every bounded product; a lost digit raises instead of rounding."""
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        ctx.traps[decimal.Inexact] = False
        ctx.traps[decimal.InvalidOperation] = True
        ctx.traps[decimal.Overflow] = True
        yield


def round_money(amount: Decimal, currency: str | None) -> Decimal:
    """Half-up to the currency's minor unit; out of range raises ``AmountOutOfRange``."""
    if not amount.is_finite() or abs(amount) >= MAX_AMOUNT:
        raise AmountOutOfRange(f"amount {amount} is out of range")
    try:
        with exact():
            return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)
    except decimal.DecimalException as exc:
        raise AmountOutOfRange(f"amount {amount} cannot be rounded: {exc!r}") from exc
