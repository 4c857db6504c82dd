"""The read API (aiohttp): billing reports for distributors, usage reports for partners.

Every ``/v1`` answer is scoped by the caller's API key; errors are JSON ``Problem``s.
Reads go to the database only, so the API answers while processors restart. The route
table below is both the router's and the OpenAPI document's.
"""

from __future__ import annotations

from aiohttp import web
from pydantic_core import to_json

from schemas.api import (
    BillingReportDetail,
    Health,
    Page,
    Readiness,
    ReportQuery,
    UsageQuery,
    UsageReportDetail,
    UsageReportList,
)
from services.api.context import CONTEXT, ApiContext
from services.api.handlers.billing import get_billing_report, list_billing_reports
from services.api.handlers.billing_csv import export_billing_report, export_billing_reports
from services.api.handlers.service import health, metrics, ready
from services.api.handlers.usage import get_usage_report, list_usage_reports
from services.api.labels import LINE_COLUMNS, LIST_COLUMNS
from services.api.middleware import errors_and_metrics
from services.api.openapi import Body, Route, openapi_document

__all__ = ["CONTEXT", "ROUTES", "ApiContext", "build_api"]


async def openapi(request: web.Request) -> web.Response:
    return web.Response(
        body=to_json(openapi_document(ROUTES)), content_type="application/json", charset="utf-8"
    )


def _csv(what: str, columns: list[str]) -> Body:
    return Body(f"{what} as CSV (RFC 4180); columns: {', '.join(columns)}", media="text/csv")


ROUTES = (
    Route(
        "/v1/billing-reports",
        list_billing_reports,
        "List billing reports (distributor, operations)",
        Body("one page of reports and the total", Page),
        query=ReportQuery,
    ),
    Route(
        "/v1/billing-reports.csv",
        export_billing_reports,
        "Export every report of a list query as CSV, streamed",
        _csv("every report the query matches", LIST_COLUMNS["en"]),
        query=ReportQuery,
        without=frozenset({"page", "page_size"}),
    ),
    Route(
        r"/v1/billing-reports/{report_id:[^/]+}.csv",
        export_billing_report,
        "One billing report's lines as CSV",
        _csv("the report's lines", LINE_COLUMNS["en"]),
    ),
    Route(
        "/v1/billing-reports/{report_id}",
        get_billing_report,
        "One billing report in full: lines, discrepancies, prices, totals, history",
        Body("the report, without its outbox and recorded decisions", BillingReportDetail),
    ),
    Route(
        "/v1/usage-reports",
        list_usage_reports,
        "The partner's usage reports: the last 12 months, or one year",
        Body("usage reports, newest cycle first", UsageReportList),
        query=UsageQuery,
    ),
    Route(
        "/v1/usage-reports/{report_id}",
        get_usage_report,
        "One usage report as the partner sees it (no pricing)",
        Body("the usage report", UsageReportDetail),
    ),
    Route("/health", health, "Liveness", Body("up", Health), keyed=False),
    Route(
        "/ready",
        ready,
        "Readiness: the database answers",
        Body("ready", Readiness),
        keyed=False,
        others=((503, Body("not ready: the checks say what is unavailable", Readiness)),),
    ),
    Route(
        "/metrics",
        metrics,
        "Prometheus metrics",
        Body("text exposition format", media="text/plain"),
        keyed=False,
    ),
    Route(
        "/openapi.json",
        openapi,
        "This document",
        Body("OpenAPI 3.1", schema=(("type", "object"),)),
        keyed=False,
    ),
)


def build_api(ctx: ApiContext) -> web.Application:
    app = web.Application(middlewares=[errors_and_metrics])
    app[CONTEXT] = ctx
    for route in ROUTES:
        app.router.add_get(route.path, route.handler)
    return app
