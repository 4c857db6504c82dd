"""The read API's queries: report lists (a page, or every row for a CSV), one report as
readers see it, a partner's reports, and the partner directory. Every list filter has
an index behind it (see ``REPORT_INDEXES``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING

from schemas.api import ReportQuery, SortKey
from schemas.report import HistoryEntry, Report
from services.adapters.store.matching import matches
from services.adapters.store.protocol import After, ReportScope
from services.domain.status import BILLING_STATUS_CRITERIA

LIST_FIELDS = (
    "cycle",
    "partner_id",
    "partner_name",
    "distributor_id",
    "status",
    "submission_kind",
    "po_number",
    "currency",
    "total_amount",
    "deadline",
    "updated_at",
    "version",
)
"""What a row of the report list (and of its CSV) shows, besides ``_id``: every field it
sorts on is one of them, so a row also says where the next page starts."""

LIST_PROJECTION = dict.fromkeys(LIST_FIELDS, 1)
"""A list row reads only its own fields, never a report's lines, history, outbox or
recorded answers (an inclusion projection: a field added to reports later stays out)."""

USAGE_ROW_FIELDS = (
    "cycle",
    "status",
    "deadline",
    "partner_review",
    "updated_at",
    "lines.discrepancy",
    "lines.partner_comment",
)
"""What a row of the partner's list shows: of the lines, only what says whether a
discrepancy is still unexplained."""

USAGE_ROW_PROJECTION = dict.fromkeys(USAGE_ROW_FIELDS, 1)

READ_PROJECTION = {"outbox": 0, "decisions": 0}
"""What a reader of one report never sees: events to publish and answers to actions."""

SORTS: dict[SortKey, list[tuple[str, int]]] = {
    SortKey.CYCLE_DESC: [("cycle", DESCENDING), ("partner_id", ASCENDING)],
    SortKey.CYCLE: [("cycle", ASCENDING), ("partner_id", ASCENDING)],
    SortKey.PARTNER_ID: [("partner_id", ASCENDING), ("cycle", DESCENDING)],
    SortKey.PARTNER_ID_DESC: [("partner_id", DESCENDING), ("cycle", DESCENDING)],
    SortKey.DEADLINE: [("deadline", ASCENDING), ("_id", ASCENDING)],
    SortKey.DEADLINE_DESC: [("deadline", DESCENDING), ("_id", ASCENDING)],
    SortKey.UPDATED_AT: [("updated_at", ASCENDING), ("_id", ASCENDING)],
    SortKey.UPDATED_AT_DESC: [("updated_at", DESCENDING), ("_id", ASCENDING)],
}
"""Every list order: a field, then one that makes each row's place unique (a report is
one per partner and cycle), so a position in the order names exactly one row."""

_TIMES = frozenset({"deadline", "updated_at"})
_NULLABLE = frozenset({"deadline"})
"""Sort fields a report may hold null (MongoDB sorts null before every value)."""


def report_filter(
    query: ReportQuery, scope: ReportScope, partner_ids: list[str] | None
) -> dict[str, Any]:
    """The MongoDB filter of a list query; every clause has an index behind it.

    ``partner_ids`` is the answer of the partner search (None when the query has none).
    """
    clauses: dict[str, Any] = {}
    if scope.distributor_id is not None:
        clauses["distributor_id"] = scope.distributor_id
    if partner_ids is not None:
        clauses["partner_id"] = {"$in": partner_ids}
    first, last = query.cycle_bounds()
    if first is not None or last is not None:
        clauses["cycle"] = cycles_between(first, last)
    if query.status:
        wanted = {BILLING_STATUS_CRITERIA[s] for s in query.status}
        whole = {status for status, kind in wanted if kind is None}
        by_kind = [(s, k) for s, k in wanted if k is not None and s not in whole]
        alternatives: list[dict[str, Any]] = []
        if len(whole) == 1:  # an equality, which an index prefix serves with a range after it
            alternatives.append({"status": next(iter(whole)).value})
        elif whole:
            alternatives.append({"status": {"$in": sorted(whole)}})
        alternatives += [{"status": s.value, "submission_kind": k.value} for s, k in by_kind]
        if len(alternatives) == 1:
            clauses.update(alternatives[0])
        else:
            clauses["$or"] = alternatives
    return clauses


MONTHS_LISTED = 36
"""A bounded cycle range of at most this many months is asked for as its months."""


def cycles_between(first: str | None, last: str | None) -> Any:
    """The condition on ``cycle`` of the cycles from ``first`` to ``last`` (None: unbounded).

    One cycle is an equality; a bounded range of a few years is the list of its months
    (newest first), so each is an equality on the index: MongoDB reads the same keys
    either way, in the same order, and the embedded server answers ``$in`` at two to
    three times the speed of the range (docs/api.md, "Indexes and query plans")."""
    if first is not None and first == last:
        return first
    if first is not None and last is not None:
        start, stop = _month(first), _month(last)
        if stop - start < MONTHS_LISTED:  # an empty range (start > stop) lists no month
            return {"$in": [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(stop, start - 1, -1)]}
    bounds: dict[str, str] = {}
    if first is not None:
        bounds["$gte"] = first
    if last is not None:
        bounds["$lte"] = last
    return bounds


def _month(cycle: str) -> int:
    return int(cycle[:4]) * 12 + int(cycle[5:7]) - 1


def partner_reports_filter(
    partner_id: str, first_cycle: str, last_cycle: str, scope: ReportScope
) -> dict[str, Any] | None:
    """The filter of one partner's reports over a cycle range within ``scope``; None
    when the scope cannot see that partner at all."""
    if scope.partner_id is not None and scope.partner_id != partner_id:
        return None
    criteria: dict[str, Any] = {
        "partner_id": partner_id,
        "cycle": cycles_between(first_cycle, last_cycle),
    }
    if scope.distributor_id is not None:
        criteria["distributor_id"] = scope.distributor_id
    return criteria


def position(row: Mapping[str, Any], sort: SortKey) -> After:
    """Where ``row`` (a list row) stands in ``sort``'s order: what the next page starts after."""
    first = SORTS[sort][0][0]
    return After(row["_id"], row.get(first) if first in _TIMES else None)


def after_segments(
    criteria: Mapping[str, Any], sort: SortKey, after: After
) -> list[dict[str, Any]]:
    """The rows of ``criteria`` after ``after`` in ``sort``'s order, as filters to read one
    after the other (each in that order) until a page is full: the rows that tie with
    ``after`` on the first sort field and come after it on the second, then the rows
    beyond it on the first (and, descending on a field that may be null, the nulls, which
    sort last). Each is an equality and a range, or a range: one range of the list's
    index on MongoDB, and what the embedded server's router serves from an index, which
    it does for no ``$or`` (measured: a page after a row as one ``$or`` cost it twice
    what skipping to it did)."""
    (first, first_dir), (second, second_dir) = SORTS[sort]
    partner_id, _, cycle = after.report_id.rpartition(":")
    known: dict[str, Any] = {
        "_id": after.report_id,
        "partner_id": partner_id,
        "cycle": cycle,
        "deadline": after.time,
        "updated_at": after.time,
    }
    value, tie = known[first], known[second]
    segments = [{first: value, second: {_beyond(second_dir): tie}}]
    pinned = first in criteria and not isinstance(criteria[first], Mapping)
    if not (pinned and criteria[first] == value):  # else every row ties on ``first``
        if value is None:
            segments += [{first: {"$ne": None}}] if first_dir > 0 else []
        else:
            segments.append({first: {_beyond(first_dir): value}})
            if first_dir < 0 and first in _NULLABLE:
                segments.append({first: None})
    both = (_both(criteria, segment) for segment in segments)
    return [segment for segment in both if segment is not None]


def _beyond(direction: int) -> str:
    return "$gt" if direction > 0 else "$lt"


def _both(criteria: Mapping[str, Any], segment: dict[str, Any]) -> dict[str, Any] | None:
    """``criteria`` and ``segment`` in one filter (None: no row can match both): a field
    both name is narrowed when ``criteria`` lists its values (``$in``), else ``$and``."""
    merged = {**criteria, **segment}
    for field in criteria.keys() & segment.keys():
        held, wanted = criteria[field], segment[field]
        if held == wanted:
            continue
        if isinstance(held, Mapping) and held.keys() == {"$in"}:
            values = [v for v in held["$in"] if matches({field: v}, {field: wanted})]
            if not values:
                return None
            merged[field] = values[0] if len(values) == 1 else {"$in": values}
        else:
            return {"$and": [dict(criteria), segment]}
    return merged


class _MovedHistory(Protocol):
    @property
    def moved_history(self) -> Callable[..., Awaitable[list[HistoryEntry]]]: ...


async def with_history(store: _MovedHistory, report: Report, recent: int | None) -> Report:
    """``report`` (as stored) with the moved history entries a reader asked for before its
    inline ones: all of them (``recent`` None), or as many as make ``recent`` entries.
    ``history_archived`` then counts the entries before the first one returned."""
    archived = report.history_archived
    since = 0 if recent is None else max(archived - max(recent - len(report.history), 0), 0)
    moved = await store.moved_history(report.id, archived, since=since)
    return report.model_copy(
        update={"history": [*moved, *report.history], "history_archived": archived - len(moved)}
    )


class PageEnds:
    """Where a page of a list sorted by last update ended the last time it was read (the
    first page, or the page after a row), so the next read of it asks only for the rows
    up to there.

    The embedded server does not stop a sorted find at its limit: it reads every match
    (docs/api.md), and operations' list of a status matches thousands. Bounded by the
    page's last row's time the last time (``updated_at >= t``, descending), the same
    query matches about a page. The answer is exact, never stale: a row outside the bound
    sorts after every row inside it, so when a page's worth of rows is inside, they are
    the page; when fewer are (rows left the status), the page is read unbounded. On
    MongoDB the index stops at the limit either way and the bound costs nothing."""

    MOST = 1_000

    def __init__(self) -> None:
        self._ends: dict[tuple[str, SortKey, int, After | None], datetime] = {}

    def bound(
        self, criteria: Mapping[str, Any], sort: SortKey, limit: int, after: After | None
    ) -> dict[str, Any] | None:
        """The segment a page may be read within, None when none is known."""
        end = self._ends.get(_page_key(criteria, sort, limit, after))
        if end is None:
            return None
        (field, direction), _ = SORTS[sort]
        return {field: {"$gte" if direction < 0 else "$lte": end}}

    def remember(
        self,
        criteria: Mapping[str, Any],
        sort: SortKey,
        limit: int,
        after: After | None,
        page: list[dict[str, Any]],
    ) -> None:
        (field, _), _ = SORTS[sort]
        if field != "updated_at" or len(page) < limit:
            return
        end = page[-1].get(field)
        if isinstance(end, datetime):
            if len(self._ends) >= self.MOST:
                self._ends.clear()
            self._ends[_page_key(criteria, sort, limit, after)] = end


def _page_key(
    criteria: Mapping[str, Any], sort: SortKey, limit: int, after: After | None
) -> tuple[str, SortKey, int, After | None]:
    return _criteria_key(criteria), sort, limit, after


def _criteria_key(criteria: Mapping[str, Any]) -> str:
    return repr(sorted(criteria.items(), key=lambda item: item[0]))


class RecentTotals:
    """A list's total, reused for ``seconds`` by the same query (``LMP_API_LIST_TOTAL_SECONDS``).

    Counting is the one read of a list the embedded server cannot bound: it reads every
    match (19 ms of its CPU for operations' list of a status, three times the page's own
    rows). A total is a figure shown beside the page, as any count taken beside a page
    is a moment apart from it; whether another page follows is decided from the page's
    own rows, never from the total (``services/api/handlers/billing.py``)."""

    MOST = 1_000

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._counted: dict[str, tuple[float, int]] = {}

    def get(self, key: str) -> int | None:
        held = self._counted.get(key)
        if held is None or self._clock() - held[0] >= self._seconds:
            return None
        return held[1]

    def put(self, key: str, total: int) -> None:
        if self._seconds <= 0:
            return
        if len(self._counted) >= self.MOST:
            self._counted.clear()
        self._counted[key] = (self._clock(), total)


class ReadQueries:
    """The read side of ``reports`` and ``partners``."""

    reports: Any
    _page_ends: PageEnds
    _totals: RecentTotals
    moved_history: Callable[..., Awaitable[list[HistoryEntry]]]  # the archive's part
    partners: Any

    async def partner_directory(
        self, changed_since: datetime | None
    ) -> list[tuple[str, str, str, datetime]]:
        """Partners as (id, name, distributor id, updated at): all, or those changed since."""
        criteria = {} if changed_since is None else {"updated_at": {"$gte": changed_since}}
        docs = await self.partners.find(
            criteria, {"name": 1, "distributor_id": 1, "updated_at": 1}
        ).to_list(None)
        return [
            (d["_id"], d.get("name", ""), d.get("distributor_id", ""), d["updated_at"])
            for d in docs
        ]

    async def list_reports(
        self,
        criteria: Mapping[str, Any],
        sort: SortKey,
        skip: int,
        limit: int,
        after: After | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of list rows and the total: ``skip`` rows skipped, or (``after``
        given) the rows after that one, read by key (``after_segments``) so a deep page
        costs what the first does; ``skip`` then says how many rows the walk has seen.

        A short page reached by ``skip`` is the last one, so its total needs no count:
        most of a distributor's queries fit one page and cost the database one query."""
        if after is not None:  # counted whatever the page holds: both at once
            rows, total = await asyncio.gather(
                self._list_page(criteria, sort, limit, after), self.count_reports(criteria)
            )
            return rows, total
        if skip == 0:
            page = await self._list_page(criteria, sort, limit, None)
        else:
            cursor = (
                self.reports.find(dict(criteria), LIST_PROJECTION)
                .sort(SORTS[sort])
                .skip(skip)
                .limit(limit)
            )
            page = await cursor.to_list(None)
        if len(page) < limit and (page or skip == 0):
            return page, skip + len(page)
        return page, await self.count_reports(criteria)

    async def _list_page(
        self, criteria: Mapping[str, Any], sort: SortKey, limit: int, after: After | None
    ) -> list[dict[str, Any]]:
        """The first page, or the page after ``after``: within the bound the last read of
        it left (``PageEnds``) when a page's worth of rows is there, else unbounded."""
        bound = self._page_ends.bound(criteria, sort, limit, after)
        page = None if bound is None else await self._rows(criteria, sort, limit, after, bound)
        if page is None or len(page) < limit:
            page = await self._rows(criteria, sort, limit, after, None) or []
        self._page_ends.remember(criteria, sort, limit, after, page)
        return page

    async def _rows(
        self,
        criteria: Mapping[str, Any],
        sort: SortKey,
        limit: int,
        after: After | None,
        bound: dict[str, Any] | None,
    ) -> list[dict[str, Any]] | None:
        """Up to ``limit`` rows from the start or after ``after``, read segment by segment
        (``after_segments``) until the page is full; None if ``bound`` excludes every row."""
        segments = [dict(criteria)] if after is None else after_segments(criteria, sort, after)
        if bound is not None:
            bounded = [_both(segment, bound) for segment in segments]
            segments = [segment for segment in bounded if segment is not None]
            if not segments:
                return None
        page: list[dict[str, Any]] = []
        for segment in segments:
            if len(page) >= limit:
                break
            cursor = (
                self.reports.find(segment, LIST_PROJECTION)
                .sort(SORTS[sort])
                .limit(limit - len(page))
            )
            page += await cursor.to_list(None)
        return page

    async def count_reports(self, criteria: Mapping[str, Any]) -> int:
        """How many reports match: the count of the same query a moment ago if the store
        keeps them (``RecentTotals``), else counted now."""
        key = _criteria_key(criteria)
        total = self._totals.get(key)
        if total is None:
            total = await self._count(criteria)
            self._totals.put(key, total)
        return total

    async def _count(self, criteria: Mapping[str, Any]) -> int:
        """The ``count`` command, which on the embedded server costs a third to a half of
        ``count_documents`` (an aggregation) and on MongoDB is the same count of an index
        range, with the collection's read concern."""
        command: dict[str, Any] = {"count": self.reports.name, "query": dict(criteria)}
        concern = self.reports.read_concern.document
        if concern:
            command["readConcern"] = concern
        answer = await self.reports.database.command(command)
        return int(answer["n"])

    async def stream_reports(
        self, criteria: Mapping[str, Any], sort: SortKey, batch_size: int = 500
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Every matching report document, a cursor batch at a time (memory stays flat)."""
        cursor = self.reports.find(dict(criteria), LIST_PROJECTION, batch_size=batch_size).sort(
            SORTS[sort]
        )
        async for doc in cursor:
            yield doc

    async def read_report(self, report_id: str, recent: int | None = None) -> Report | None:
        """One report as readers see it: without its outbox and recorded answers, with its
        whole history (the entries moved out of the document first), or with its inline
        entries and as many moved ones before them as make ``recent``."""
        doc = await self.reports.find_one({"_id": report_id}, READ_PROJECTION)
        if doc is None:
            return None
        return await with_history(self, Report.from_document(doc), recent)

    async def partner_report_rows(
        self, partner_id: str, first_cycle: str, last_cycle: str, scope: ReportScope
    ) -> list[dict[str, Any]]:
        """One partner's reports over a cycle range, within what ``scope`` may see, as
        rows of its list: ``USAGE_ROW_FIELDS``, newest cycle first."""
        criteria = partner_reports_filter(partner_id, first_cycle, last_cycle, scope)
        if criteria is None:
            return []
        cursor = self.reports.find(criteria, USAGE_ROW_PROJECTION).sort([("cycle", DESCENDING)])
        rows: list[dict[str, Any]] = await cursor.to_list(None)
        return rows
