"""The partner's usage reports (SPEC section 4); distributor and operations keys may read
them too, naming the partner."""

from __future__ import annotations

from aiohttp import web

from schemas.api import Role, UsageReportList
from services.api import views
from services.api.access import EVERY_ROLE, caller, scoped_report
from services.api.answers import json_answer
from services.api.auth import Caller, Forbidden
from services.api.context import CONTEXT, ApiContext
from services.api.params import language, usage_query, zone
from services.domain.calendar import months_back

_NO_USAGE_REPORTS = (
    "partner {} has no access to usage reports (its account type or region); "
    "its reports are submitted automatically at their deadline"
)


async def list_usage_reports(request: web.Request) -> web.Response:
    """The partner's list: the last 12 months, or one year."""
    asking = await caller(request, EVERY_ROLE)
    ctx = request.app[CONTEXT]
    lang, tz = language(request), zone(request)
    query = usage_query(request)
    partner_id = _partner_for(asking, query.partner_id)
    if asking.role is Role.PARTNER:
        await _check_usage_access(ctx, partner_id)
    if query.year is not None:
        first, last = f"{query.year}-01", f"{query.year}-12"
    else:
        first, last = months_back(ctx.clock(), 12)
    rows = await ctx.store.partner_report_rows(partner_id, first, last, asking.scope)
    return json_answer(
        UsageReportList(
            partner_id=partner_id,
            from_cycle=first,
            to_cycle=last,
            items=[views.usage_row(row, lang, tz) for row in rows],
        ),
        lang,
        tz,
    )


def _partner_for(asking: Caller, asked: str | None) -> str:
    """Whose usage reports: the partner's own; a distributor sees only the reports it
    reviews (the store filters on its id, so a partner that moved keeps its history)."""
    if asking.role is Role.PARTNER:
        if asked is not None and asked != asking.account_id:
            raise Forbidden("a partner key reads only its own usage reports")
        return str(asking.account_id)
    if asked is None:
        raise Forbidden(
            "distributor and operations keys have no usage reports of their own: "
            "name the partner with partner_id"
        )
    return asked


async def _check_usage_access(ctx: ApiContext, partner_id: str) -> None:
    """SPEC section 4: a partner whose account type or region has no access to usage
    reports is told so (its reports are still built and billed)."""
    if await ctx.usage_access.get(partner_id) is False:
        raise Forbidden(_NO_USAGE_REPORTS.format(partner_id))


async def get_usage_report(request: web.Request) -> web.Response:
    asking = await caller(request, EVERY_ROLE)
    lang, tz = language(request), zone(request)
    report = await scoped_report(request, asking)
    if asking.role is Role.PARTNER and not report.partner_review:
        raise Forbidden(_NO_USAGE_REPORTS.format(report.partner_id))
    return json_answer(views.usage_report(report, lang, tz), lang, tz)
