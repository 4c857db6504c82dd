"""The read API's queries: report lists (a page, or every row for a CSV), one report as
readers see it, a partner's reports, and the partner directory. Every list filter has
an index behind it (see ``REPORT_INDEXES``)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING

from schemas.api import ReportQuery, SortKey
from schemas.report import HistoryEntry, Report
from services.adapters.store.protocol import ReportScope
from services.domain.status import BILLING_STATUS_CRITERIA

LIST_PROJECTION = {"history": 0, "outbox": 0, "lines": 0, "decisions": 0}
"""What a list row or a CSV row of the report list does not need."""

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


def report_filter(  # noqa: C901 - one branch per optional filter of the list query
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
    if first is not None and first == last:
        clauses["cycle"] = first
    elif first is not None and last is not None and first > last:
        clauses["cycle"] = {"$in": []}  # no cycle is in an empty range
    elif first is not None or last is not None:
        cycle_range: dict[str, str] = {}
        if first is not None:
            cycle_range["$gte"] = first
        if last is not None:
            cycle_range["$lte"] = last
        clauses["cycle"] = cycle_range
    if query.status:
        wanted = {BILLING_STATUS_CRITERIA[s] for s in query.status}
        whole = {status for status, kind in wanted if kind is None}
        by_kind = [(s, k) for s, k in wanted if k is not None and s not in whole]
        alternatives: list[dict[str, Any]] = []
        if whole:
            alternatives.append({"status": {"$in": sorted(whole)}})
        alternatives += [{"status": s.value, "submission_kind": k.value} for s, k in by_kind]
        if len(alternatives) == 1:
            clauses.update(alternatives[0])
        else:
            clauses["$or"] = alternatives
    return clauses


def partner_reports_filter(
    partner_id: str, first_cycle: str, last_cycle: str, scope: ReportScope
) -> dict[str, Any] | None:
    """The filter of one partner's reports over a cycle range within ``scope``; None
    when the scope cannot see that partner at all."""
    if scope.partner_id is not None and scope.partner_id != partner_id:
        return None
    criteria: dict[str, Any] = {
        "partner_id": partner_id,
        "cycle": {"$gte": first_cycle, "$lte": last_cycle},
    }
    if scope.distributor_id is not None:
        criteria["distributor_id"] = scope.distributor_id
    return criteria


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


class ReadQueries:
    """The read side of ``reports`` and ``partners``."""

    reports: Any
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
        self, criteria: Mapping[str, Any], sort: SortKey, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of report documents (without lines and history) and the total.

        A short page is the last one, so its total needs no count: most of a
        distributor's queries fit one page and cost the database one query, not two."""
        cursor = (
            self.reports.find(dict(criteria), LIST_PROJECTION)
            .sort(SORTS[sort])
            .skip(skip)
            .limit(limit)
        )
        page = await cursor.to_list(None)
        if len(page) < limit and (page or skip == 0):
            return page, skip + len(page)
        return page, await self.reports.count_documents(dict(criteria))

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

    async def partner_reports(
        self, partner_id: str, first_cycle: str, last_cycle: str, scope: ReportScope
    ) -> list[Report]:
        """One partner's reports over a cycle range, within what ``scope`` may see."""
        criteria = partner_reports_filter(partner_id, first_cycle, last_cycle, scope)
        if criteria is None:
            return []
        docs = await (
            self.reports.find(criteria, READ_PROJECTION).sort([("cycle", DESCENDING)]).to_list(None)
        )
        return [Report.from_document(doc) for doc in docs]
