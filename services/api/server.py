"""The read API (aiohttp): billing reports for distributors, usage reports for partners.

Every ``/v1`` answer is scoped by the caller's API key; errors are problem details (RFC
9457). Reads go to the database only, so the API answers while processors restart. The
route table below is both the router's and the OpenAPI document's.
"""

from __future__ import annotations

from aiohttp import web
from pydantic_core import to_json

from schemas.api import (
    BillingReportDetail,
    Health,
    HistoryPage,
    HistoryQuery,
    Page,
    Readiness,
    ReportQuery,
    UsageQuery,
    UsageReportDetail,
    UsageReportList,
)
from services.api.context import CONTEXT, ApiContext
from services.api.handlers.billing import (
    get_billing_report,
    list_billing_report_history,
    list_billing_reports,
)
from services.api.handlers.billing_csv import export_billing_report, export_billing_reports
from services.api.handlers.service import health, metrics, ready
from services.api.handlers.usage import get_usage_report, list_usage_reports
from services.api.middleware import errors_and_metrics
from services.api.openapi import Body, Route, openapi_document
from services.domain.labels import LINE_COLUMNS, LIST_COLUMNS
from services.observability import http as http_tracing

__all__ = ["CONTEXT", "ROUTES", "ApiContext", "build_api"]


async def openapi(_request: web.Request) -> web.Response:
    return web.Response(
        body=to_json(openapi_document(ROUTES)), content_type="application/json", charset="utf-8"
    )


def _csv(what: str, columns: list[str]) -> Body:
    return Body(f"{what} as CSV (RFC 4180); columns: {', '.join(columns)}", media="text/csv")


_USAGE_ROLES = (
    "A partner key reads its own usage reports (partner_id omitted or its own). Distributor "
    "and operations keys name the partner with partner_id (a distributor sees the reports "
    "it reviews); without it they are answered 403, as they have no usage reports of their own."
)

ROUTES = (
    Route(
        "/v1/billing-reports",
        list_billing_reports,
        "listBillingReports",
        "billing-reports",
        "List billing reports (distributor, operations)",
        Body("one page of reports and the total", Page, sometimes=("Link",)),
        description="Every filter given narrows the list. A distributor key sees its "
        "partners' reports, an operations key every report; a partner key is answered 403. "
        "A page asks for its rows by page (rows skipped) or by cursor (the previous page's "
        "next_cursor, read by key from where that page ended); a page with more "
        "after it gives next_cursor, and the same as Link rel=next.",
        query=ReportQuery,
    ),
    Route(
        "/v1/billing-reports.csv",
        export_billing_reports,
        "exportBillingReportsCsv",
        "billing-reports",
        "Export every report of a list query as CSV, streamed",
        _csv("every report the query matches", LIST_COLUMNS["en"]),
        description="The list's query without paging: every matching report, streamed. "
        "A failure after the first bytes cuts the connection (no final chunk), so a broken "
        "download never looks complete.",
        query=ReportQuery,
        without=frozenset({"page", "page_size", "cursor"}),
    ),
    Route(
        r"/v1/billing-reports/{report_id:[^/]+}.csv",
        export_billing_report,
        "exportBillingReportCsv",
        "billing-reports",
        "One billing report's lines as CSV",
        _csv("the report's lines", LINE_COLUMNS["en"]),
        zoned=False,
    ),
    Route(
        "/v1/billing-reports/{report_id:[^/]+}",
        get_billing_report,
        "getBillingReport",
        "billing-reports",
        "One billing report in full: lines, discrepancies, prices, totals, history",
        Body("the report, without its outbox and recorded decisions", BillingReportDetail),
        description="The answer carries the most recent history entries (at most 50) and "
        "history_total; listBillingReportHistory pages through all of them.",
    ),
    Route(
        "/v1/billing-reports/{report_id:[^/]+}/history",
        list_billing_report_history,
        "listBillingReportHistory",
        "billing-reports",
        "One billing report's whole history, a page at a time, oldest first",
        Body("one page of history entries and the total", HistoryPage),
        description="Who did what to the report, every entry once, in order: page 1 holds "
        "the oldest. The same keys may read it as the report itself.",
        query=HistoryQuery,
    ),
    Route(
        "/v1/usage-reports",
        list_usage_reports,
        "listUsageReports",
        "usage-reports",
        "A partner's usage reports: the last 12 months, or one year",
        Body("usage reports, newest cycle first", UsageReportList),
        description=_USAGE_ROLES,
        query=UsageQuery,
    ),
    Route(
        "/v1/usage-reports/{report_id:[^/]+}",
        get_usage_report,
        "getUsageReport",
        "usage-reports",
        "One usage report as the partner sees it (no pricing)",
        Body("the usage report", UsageReportDetail),
    ),
    Route(
        "/health",
        health,
        "getHealth",
        "service",
        "Liveness",
        Body("up", Health),
        keyed=False,
        database=False,
    ),
    Route(
        "/ready",
        ready,
        "getReadiness",
        "service",
        "Readiness: the database answers",
        Body("ready", Readiness),
        keyed=False,
        others=((503, Body("not ready: the checks say what is unavailable", Readiness)),),
    ),
    Route(
        "/metrics",
        metrics,
        "getMetrics",
        "service",
        "Prometheus metrics",
        Body("text exposition format", media="text/plain"),
        keyed=False,
    ),
    Route(
        "/openapi.json",
        openapi,
        "getOpenapiDocument",
        "service",
        "This document",
        Body("OpenAPI 3.1", schema=(("type", "object"),)),
        keyed=False,
        database=False,
    ),
)

ALLOWED_METHODS = "GET, HEAD, OPTIONS"


async def options(_request: web.Request) -> web.Response:
    """What a path takes: 204 with ``Allow`` (no key needed: it says nothing of the data)."""
    return web.Response(status=204, headers={"Allow": ALLOWED_METHODS})


def build_api(ctx: ApiContext) -> web.Application:
    app = web.Application(middlewares=[*http_tracing.middlewares(), errors_and_metrics])
    app[CONTEXT] = ctx
    for route in ROUTES:
        app.router.add_get(route.path, route.handler)
        app.router.add_route("OPTIONS", route.path, options)
    return app
