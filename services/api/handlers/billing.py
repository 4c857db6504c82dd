"""The distributor's and operations' billing reports: the list and one report in full."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from schemas.api import Page, ReportQuery
from services.adapters.store import ReportScope, report_filter
from services.api import views
from services.api.access import READERS_OF_BILLING, caller, scoped_report
from services.api.answers import json_answer
from services.api.context import CONTEXT, ApiContext
from services.api.params import language, report_query, zone
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
    asked = await list_request(request)
    query = asked.query
    docs, total = await asked.ctx.store.list_reports(
        asked.criteria, query.sort, (query.page - 1) * query.page_size, query.page_size
    )
    page = Page(
        items=[views.billing_summary(doc, asked.lang, asked.tz) for doc in docs],
        page=query.page,
        page_size=query.page_size,
        total=total,
        pages=-(-total // query.page_size),
    )
    return json_answer(page, asked.lang, asked.tz)


async def get_billing_report(request: web.Request) -> web.Response:
    asking = await caller(request, READERS_OF_BILLING)
    lang, tz = language(request), zone(request)
    report = await scoped_report(request, asking)
    return json_answer(views.billing_report(report, lang, tz), lang, tz)
