"""List cursors and keyset pages: a cursor says where the next page starts and reads back
the same, every string of its documented form is one the API takes, and the store's
segments after a row are exactly the rows that follow it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.api import CURSOR_PATTERN, ReportQuery, SortKey
from services.adapters.store import After, ReportScope, position, report_filter
from services.adapters.store.matching import matches, ordered
from services.adapters.store.queries import SORTS, RecentTotals, after_segments
from services.api import cursor

pytestmark = pytest.mark.unit

AT = datetime(2026, 10, 2, 8, 30, 15, 123000, tzinfo=UTC)
ODD_IDS = ["P1:2026-10", "P~1~x:2026-10", 'P-"Q\r\n:2026-01', "Pärtner/Ünï:2026-12", "~:2026-01"]


@pytest.mark.parametrize("report_id", ODD_IDS)
@pytest.mark.parametrize(
    "time", [None, AT, datetime(1969, 7, 20, 20, 17, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)]
)
def test_a_cursor_reads_back_as_it_was_written(report_id: str, time: datetime | None) -> None:
    written = cursor.encode(150, After(report_id, time))
    assert re.fullmatch(CURSOR_PATTERN, written)
    assert cursor.decode(written) == (150, After(report_id, time))


def test_a_cursor_keeps_the_millisecond_the_database_keeps() -> None:
    assert cursor.encode(0, After("P:2026-10", AT)) == "0~1790929815123~P:2026-10"
    assert cursor.encode(7, After("P:2026-10")) == "7~-~P:2026-10"


@given(st.from_regex(CURSOR_PATTERN, fullmatch=True))
def test_every_string_of_the_documented_form_is_a_place_in_the_order(text: str) -> None:
    before, after = cursor.decode(text)
    assert before >= 0
    assert after.report_id
    assert ReportQuery(cursor=text).cursor == text


@pytest.mark.parametrize("text", ["", "1~-", "a~-~P:2026-10", "1~x~P:2026-10", "1~-~", "1~²~P:1"])
def test_anything_else_is_not_a_cursor(text: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        cursor.decode(text)


def rows() -> list[dict[str, Any]]:
    """Rows that tie on every sort's first field; some without a deadline."""
    return [
        {
            "_id": f"P{n % 4}:2026-{9 + n // 4:02d}",
            "partner_id": f"P{n % 4}",
            "cycle": f"2026-{9 + n // 4:02d}",
            "status": "rejected" if n % 3 == 0 else "completed",
            "deadline": None if n % 5 == 0 else AT + timedelta(days=n % 3),
            "updated_at": AT + timedelta(hours=n % 2),
        }
        for n in range(12)
    ]


@pytest.mark.parametrize("sort", list(SortKey))
@pytest.mark.parametrize(
    "query",
    [ReportQuery(), ReportQuery(cycle="2026-10"), ReportQuery(status=["rejected", "completed"])],
)
def test_the_segments_after_a_row_hold_exactly_the_rows_after_it(
    sort: SortKey, query: ReportQuery
) -> None:
    criteria = report_filter(query, ReportScope(), ["P0", "P1", "P3"])
    whole = ordered([r for r in rows() if matches(r, criteria)], SORTS[sort])
    for at, row in enumerate(whole):
        found = [
            r["_id"]
            for segment in after_segments(criteria, sort, position(row, sort))
            for r in ordered([r for r in rows() if matches(r, segment)], SORTS[sort])
        ]
        assert found == [r["_id"] for r in whole[at + 1 :]]


def test_a_segment_is_an_equality_and_a_range_never_an_or() -> None:
    after = After("P1:2026-10", AT)
    assert after_segments({"status": "rejected"}, SortKey.UPDATED_AT_DESC, after) == [
        {"status": "rejected", "updated_at": AT, "_id": {"$gt": "P1:2026-10"}},
        {"status": "rejected", "updated_at": {"$lt": AT}},
    ]
    late = after_segments({}, SortKey.DEADLINE_DESC, after)
    assert late[-1] == {"deadline": None}  # descending, the reports without one come last
    pinned = after_segments({"distributor_id": "D1", "cycle": "2026-10"}, SortKey.CYCLE_DESC, after)
    assert pinned == [{"distributor_id": "D1", "cycle": "2026-10", "partner_id": {"$gt": "P1"}}]
    listed = {"partner_id": {"$in": ["P0", "P1", "P2"]}, "cycle": {"$in": ["2026-11", "2026-10"]}}
    assert after_segments(listed, SortKey.CYCLE_DESC, after) == [
        {"partner_id": "P2", "cycle": "2026-10"},  # a listed field is narrowed
    ]
    ranged = {"cycle": {"$gte": "2020-01"}}
    assert after_segments(ranged, SortKey.CYCLE_DESC, after) == [
        {"$and": [ranged, {"cycle": "2026-10", "partner_id": {"$gt": "P1"}}]},
        {"$and": [ranged, {"cycle": {"$lt": "2026-10"}}]},
    ]


def test_a_recent_total_is_reused_for_its_seconds_and_then_counted_again() -> None:
    now = [100.0]
    totals = RecentTotals(2.0, clock=lambda: now[0])
    assert totals.get("q") is None
    totals.put("q", 7)
    now[0] += 1.9
    assert (totals.get("q"), totals.get("other")) == (7, None)
    now[0] += 0.1
    assert totals.get("q") is None


def test_no_total_is_kept_when_its_seconds_are_zero() -> None:
    totals = RecentTotals(0.0, clock=lambda: 0.0)
    totals.put("q", 7)
    assert totals.get("q") is None
