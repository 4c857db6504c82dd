"""The distributor's and operations' billing reports: the list and one report in full."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from schemas.api import HISTORY_SHOWN, HistoryPage, Page, ReportQuery
from schemas.report import HistoryEntry
from services.adapters.store import ReportScope, position, report_filter
from services.api import cursor, views
from services.api.access import READERS_OF_BILLING, caller, scoped_report
from services.api.answers import json_answer
from services.api.context import CONTEXT, ApiContext
from services.api.params import history_query, language, report_query, zone
from services.domain.labels import Language


@dataclass(frozen=True)
class ListRequest:
    """A list query, checked and scoped: what the list and its CSV export share."""

    ctx: ApiContext
    lang: Language
    tz: ZoneInfo
    query: ReportQuery
    criteria: dict[str, Any]


async def _criteria(ctx: ApiContext, query: ReportQuery, scope: ReportScope) -> dict[str, Any]:
    partner_ids = None
    if query.partner_search is not None:
        partner_ids = await ctx.partners.matching(query.partner_search, scope.distributor_id)
    return report_filter(query, scope, partner_ids)


async def list_request(request: web.Request) -> ListRequest:
    asking = await caller(request, READERS_OF_BILLING)
    ctx = request.app[CONTEXT]
    query = report_query(request)
    criteria = await _criteria(ctx, query, asking.scope)
    return ListRequest(ctx, language(request), zone(request), query, criteria)


async def list_billing_reports(request: web.Request) -> web.Response:
    """One page: by ``page`` (rows skipped), or by ``cursor`` (read by key from the row
    the previous page ended on). Either way, a page with more after it says where the
    next one starts: ``next_cursor``, and the same as a ``Link: rel="next"``."""
    asked = await list_request(request)
    query = asked.query
    size = query.page_size
    before, after = (query.page - 1) * size, None
    if query.cursor is not None:
        before, after = cursor.decode(query.cursor)
    # One row more than the page: whether another page follows is the rows' to say,
    # not the total's (a total may be a moment old, LMP_API_LIST_TOTAL_SECONDS).
    docs, total = await asked.ctx.store.list_reports(
        asked.criteria, query.sort, before, size + 1, after
    )
    more, docs = len(docs) > size, docs[:size]
    seen = before + len(docs)
    if docs:  # a total a moment old never says less than the rows just read
        total = max(total, seen + more)
    following = cursor.encode(seen, position(docs[-1], query.sort)) if more else None
    page = Page(
        items=[views.billing_summary(doc, asked.lang, asked.tz) for doc in docs],
        page=before // size + 1,
        page_size=size,
        total=total,
        pages=-(-total // size),
        next_cursor=following,
    )
    answer = json_answer(page, asked.lang, asked.tz)
    if following is not None:
        answer.headers["Link"] = next_link(request, following)
    return answer


def next_link(request: web.Request, following: str) -> str:
    """``Link`` to the next page (RFC 8288): this request's path and query, the cursor
    given and ``page`` left out; relative, so it resolves against the URL asked."""
    query = [(k, v) for k, v in request.query.items() if k not in ("page", "cursor")]
    url = request.rel_url.with_query([*query, ("cursor", following)])
    return f'<{url}>; rel="next"'


async def get_billing_report(request: web.Request) -> web.Response:
    asking = await caller(request, READERS_OF_BILLING)
    lang, tz = language(request), zone(request)
    report = await scoped_report(request, asking, recent=HISTORY_SHOWN)
    return json_answer(views.billing_report(report, lang, tz), lang, tz)


async def list_billing_report_history(request: web.Request) -> web.Response:
    """One page of a report's whole history, oldest first: the entries moved out of its
    document (read by sequence, a keyset range) and then its inline ones."""
    asking = await caller(request, READERS_OF_BILLING)
    lang, tz = language(request), zone(request)
    query = history_query(request)
    report = await scoped_report(request, asking, recent=0)
    archived, inline = report.history_archived, report.history
    total = archived + len(inline)
    start = min((query.page - 1) * query.page_size, total)
    stop = min(start + query.page_size, total)
    moved: list[HistoryEntry] = []
    if start < archived:
        store = request.app[CONTEXT].store
        moved = await store.moved_history(report.id, min(stop, archived), since=start)
    entries = [*moved, *inline[max(start - archived, 0) : max(stop - archived, 0)]]
    page = HistoryPage(
        items=views.history_entries(entries, tz),
        page=query.page,
        page_size=query.page_size,
        total=total,
        pages=-(-total // query.page_size),
    )
    return json_answer(page, lang, tz)
