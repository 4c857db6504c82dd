"""List cursors: where the next page of a report list starts, as a query parameter.

A cursor reads ``<rows before the page>~<sort time>~<report id>``: how many rows the walk
has passed (the answer's ``page`` is counted from it), the last row's value of the time
the list is sorted on, in milliseconds since 1970 (negative before it; ``-`` for none: a
report without a deadline, or a list sorted on cycle or partner, whose report id holds
both), and that row's report id. The store reads the next page by key from there
(``After``), so on MongoDB a deep page costs what the first does (docs/api.md).

Clients treat it as opaque. It is plain text rather than an encoding of one so that
``CURSOR_PATTERN`` describes exactly the cursors the API takes: every string of that form
names a place in a list's order, and the contract tests generate such strings and expect
them answered. A report id can hold any character (``~`` too); it is the last part, so a
cursor splits on its first two ``~`` only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from services.adapters.store import After

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)
NO_TIME = "-"
EARLIEST = (datetime.min.replace(tzinfo=UTC) - EPOCH) // MILLISECOND
"""The first millisecond a datetime holds: a cursor's time before it (the form allows 14
digits either way) is read as it, which no stored time precedes."""


class Position(NamedTuple):
    """A cursor read: the rows before the page, and the row the page starts after."""

    before: int
    after: After


def encode(before: int, after: After) -> str:
    time = NO_TIME if after.time is None else str((after.time - EPOCH) // MILLISECOND)
    return f"{before}~{time}~{after.report_id}"


def decode(cursor: str) -> Position:
    """A cursor of ``CURSOR_PATTERN``'s form (the query model checked it) read back;
    ``ValueError`` for any other string."""
    parts = cursor.split("~", 2)
    if len(parts) != 3:
        raise ValueError(f"not a list cursor: {cursor!r}")
    before, time, report_id = parts
    if not _digits(before) or not (time == NO_TIME or _digits(time.removeprefix("-"))):
        raise ValueError(f"not a list cursor: {cursor!r}")
    if not report_id:
        raise ValueError(f"not a list cursor: {cursor!r}")
    at = None if time == NO_TIME else EPOCH + max(int(time), EARLIEST) * MILLISECOND
    return Position(int(before), After(report_id, at))


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()
