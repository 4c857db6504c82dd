"""Value types shared by every message and document."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer


def _exact(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite decimal")
    return value


Money = Annotated[
    Decimal,
    AfterValidator(_exact),
    PlainSerializer(lambda v: str(v), return_type=str, when_used="always"),
]
"""An exact decimal amount; serialized as a string so no float ever touches it."""

Fraction = Annotated[
    Decimal,
    AfterValidator(_exact),
    Field(ge=0, le=1),
    PlainSerializer(lambda v: str(v), return_type=str, when_used="always"),
]
"""A channel margin, 0 to 1 (0.15 is 15 %)."""

Percentage = Annotated[
    Decimal,
    AfterValidator(_exact),
    PlainSerializer(lambda v: str(v), return_type=str, when_used="always"),
]

Cycle = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-10"])]
"""A calendar month, ``YYYY-MM``."""

Units = Annotated[int, Field(ge=0)]
Identifier = Annotated[str, Field(min_length=1, max_length=200)]
