"""The read API (aiohttp): billing reports for distributors, usage reports for partners.

Every ``/v1`` answer is scoped by the caller's API key; errors are JSON ``Problem``s.
Reads go to the database only, so the API answers while processors restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

from schemas.api import Page, Problem, ReportQuery, Role, UsageQuery, UsageReportList
from schemas.report import ActorKind, Report
from services.adapters.store import ReportScope, Store, report_filter
from services.api import views
from services.api.auth import (
    Caller,
    Forbidden,
    KnownKeys,
    Unauthorized,
    authenticate,
    presented_key,
)
from services.api.directory import PartnerDirectory
from services.api.metrics import ApiMetrics, LagRow, render
from services.api.openapi import openapi_document
from services.domain.calendar import months_back
from services.domain.errors import NotAuthorized
from services.domain.usage import has_usage_reports
from services.domain.workflow import authorize

log = logging.getLogger(__name__)

CSV_CHUNK_ROWS = 500
READERS_OF_BILLING = frozenset({Role.DISTRIBUTOR, Role.OPERATIONS})
EVERY_ROLE = frozenset(Role)


class BadRequest(Exception):
    pass


class NotFound(Exception):
    pass


@dataclass
class ApiContext:
    store: Store
    clock: Callable[[], datetime]
    lag: Callable[[], Awaitable[list[LagRow]]]
    kafka_ready: Callable[[], Awaitable[None]]
    page_size_max: int = 500
    key_cache_seconds: float = 0.0
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    partners: PartnerDirectory = field(init=False)
    keys: KnownKeys = field(init=False)

    def __post_init__(self) -> None:
        self.partners = PartnerDirectory(self.store.partner_directory)
        self.keys = KnownKeys(self.store.load_api_key, self.key_cache_seconds)


CONTEXT = web.AppKey("context", ApiContext)


def _problem(status: int, error: str, message: str, **headers: str) -> web.Response:
    return web.json_response(
        Problem(error=error, message=message).model_dump(), status=status, headers=headers
    )


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "query"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


@web.middleware
async def errors_and_metrics(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every failure becomes a clear JSON answer; every answer is counted and timed."""
    ctx = request.app[CONTEXT]
    route = request.match_info.route.resource
    route_name = route.canonical if route is not None else "unmatched"
    started = time.perf_counter()
    response: web.StreamResponse
    try:
        response = await handler(request)
    except Unauthorized as exc:
        response = _problem(401, "unauthorized", str(exc), **{"WWW-Authenticate": "Bearer"})
    except Forbidden as exc:
        response = _problem(403, "forbidden", str(exc))
    except (BadRequest, ValidationError) as exc:
        message = _validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
        response = _problem(400, "bad_request", message)
    except NotFound as exc:
        response = _problem(404, "not_found", str(exc))
    except web.HTTPException as exc:
        if exc.status >= 400:
            response = _problem(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        else:
            raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("failed to answer %s %s", request.method, request.path_qs)
        response = _problem(500, "internal_error", "the server failed to answer; see its log")
    ctx.metrics.requests.labels(route_name, str(response.status)).inc()
    ctx.metrics.worker_requests.labels(ctx.metrics.worker).inc()
    ctx.metrics.latency.labels(route_name).observe(time.perf_counter() - started)
    return response


async def _caller(request: web.Request, allowed: frozenset[Role]) -> Caller:
    key = presented_key(request.headers.get("Authorization"), request.headers.get("X-API-Key"))
    caller = await authenticate(request.app[CONTEXT].keys, key)
    if caller.role not in allowed:
        if caller.role is Role.PARTNER:
            raise Forbidden("partner keys read usage reports: use /v1/usage-reports")
        raise Forbidden(f"a {caller.role.value} key may not call {request.path}")
    return caller


def _language(request: web.Request) -> views.Language:
    return views.negotiate_language(request.headers.get("Accept-Language"))


def _zone(request: web.Request) -> ZoneInfo:
    name = request.query.get("tz", "UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise BadRequest(f"tz: unknown time zone {name!r} (use an IANA name)") from exc


def _params(request: web.Request, lists: set[str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name in request.query:
        if name == "tz" or name in raw:
            continue
        raw[name] = request.query.getall(name) if name in lists else request.query[name]
    return raw


def _report_query(request: web.Request) -> ReportQuery:
    raw = _params(request, {"status"})
    if isinstance(raw.get("status"), list):
        raw["status"] = [s for value in raw["status"] for s in value.split(",") if s]
    query = ReportQuery.model_validate(raw)
    ceiling = request.app[CONTEXT].page_size_max
    if query.page_size > ceiling:
        raise BadRequest(f"page_size: at most {ceiling}")
    return query


async def _criteria(ctx: ApiContext, query: ReportQuery, scope: ReportScope) -> dict[str, Any]:
    partner_ids = None
    if query.partner_search is not None:
        partner_ids = await ctx.partners.matching(query.partner_search, scope.distributor_id)
    return report_filter(query, scope, partner_ids)


def _language_headers(lang: views.Language) -> dict[str, str]:
    return {"Content-Language": lang, "Vary": "Accept-Language"}


def _json(model: BaseModel | dict[str, Any], lang: views.Language) -> web.Response:
    """A model (or JSON values) serialized in one pass by pydantic-core, straight to bytes."""
    return web.Response(
        body=to_json(model),
        content_type="application/json",
        charset="utf-8",
        headers=_language_headers(lang),
    )


_ACTOR_OF_ROLE = {Role.PARTNER: ActorKind.PARTNER, Role.DISTRIBUTOR: ActorKind.DISTRIBUTOR}


def _check_scope(caller: Caller, report: Report) -> None:
    """Who may read a report is who may act on it: the domain's rule, one place."""
    actor = _ACTOR_OF_ROLE.get(caller.role)
    if actor is None:
        return
    try:
        authorize(report, actor, caller.account_id or "")
    except NotAuthorized as refused:
        raise Forbidden(f"report {report.id}: {refused.reason}") from refused


async def _report(request: web.Request, caller: Caller) -> Report:
    report_id = request.match_info["report_id"]
    report = await request.app[CONTEXT].store.read_report(report_id)
    if report is None:
        raise NotFound(f"no report {report_id!r}")
    _check_scope(caller, report)
    return report


# handlers --------------------------------------------------------------------


@dataclass(frozen=True)
class ListRequest:
    """A list query, checked and scoped: what the list and its CSV export share."""

    ctx: ApiContext
    lang: views.Language
    tz: ZoneInfo
    query: ReportQuery
    criteria: dict[str, Any]


async def _list_request(request: web.Request) -> ListRequest:
    caller = await _caller(request, READERS_OF_BILLING)
    ctx = request.app[CONTEXT]
    query = _report_query(request)
    criteria = await _criteria(ctx, query, caller.scope)
    return ListRequest(ctx, _language(request), _zone(request), query, criteria)


async def list_billing_reports(request: web.Request) -> web.Response:
    asked = await _list_request(request)
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
    return _json(page, asked.lang)


async def export_billing_reports(request: web.Request) -> web.StreamResponse:
    """Every report the query matches, as CSV, a cursor batch at a time."""
    asked = await _list_request(request)
    lang = asked.lang
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="billing-reports.csv"',
            **_language_headers(lang),
        }
    )
    await response.prepare(request)
    await response.write(views.csv_text([views.LIST_COLUMNS[lang]]).encode())
    rows: list[list[str]] = []
    reports = asked.ctx.store.stream_reports(
        asked.criteria, asked.query.sort, batch_size=CSV_CHUNK_ROWS
    )
    try:
        async with aclosing(reports):
            async for doc in reports:
                rows.append(views.list_row(views.billing_summary(doc, lang, asked.tz)))
                if len(rows) >= CSV_CHUNK_ROWS:
                    await response.write(views.csv_text(rows).encode())
                    rows = []
        if rows:
            await response.write(views.csv_text(rows).encode())
    except Exception:
        # The 200 and part of the body are sent: cut the connection so the client sees a
        # broken transfer (no final chunk) rather than a short file that looks whole.
        log.exception("CSV export failed after %d bytes", response.body_length)
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


async def get_billing_report(request: web.Request) -> web.Response:
    caller = await _caller(request, READERS_OF_BILLING)
    lang, tz = _language(request), _zone(request)
    report = await _report(request, caller)
    return _json(views.billing_report(report, lang, tz), lang)


async def export_billing_report(request: web.Request) -> web.Response:
    caller = await _caller(request, READERS_OF_BILLING)
    lang = _language(request)
    report = await _report(request, caller)
    text = views.csv_text([views.LINE_COLUMNS[lang], *views.line_rows(report, lang)])
    filename = report.id.replace(":", "_")
    return web.Response(
        body=text.encode(),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}.csv"',
            **_language_headers(lang),
        },
    )


async def list_usage_reports(request: web.Request) -> web.Response:
    """The partner's list: the last 12 months, or one year."""
    caller = await _caller(request, EVERY_ROLE)
    ctx = request.app[CONTEXT]
    lang, tz = _language(request), _zone(request)
    query = UsageQuery.model_validate(_params(request, set()))
    partner_id = _partner_for(caller, query.partner_id)
    if caller.role is Role.PARTNER:
        await _check_usage_access(ctx, partner_id)
    if query.year is not None:
        first, last = f"{query.year}-01", f"{query.year}-12"
    else:
        first, last = months_back(ctx.clock(), 12)
    reports = await ctx.store.partner_reports(partner_id, first, last, caller.scope)
    return _json(
        UsageReportList(
            partner_id=partner_id,
            from_cycle=first,
            to_cycle=last,
            items=[views.usage_summary(r, lang, tz) for r in reports],
        ),
        lang,
    )


def _partner_for(caller: Caller, asked: str | None) -> str:
    """Whose usage reports: the partner's own; a distributor sees only the reports it
    reviews (the store filters on its id, so a partner that moved keeps its history)."""
    if caller.role is Role.PARTNER:
        if asked is not None and asked != caller.account_id:
            raise Forbidden("a partner key reads only its own usage reports")
        return str(caller.account_id)
    if asked is None:
        raise BadRequest("partner_id: required for distributor and operations keys")
    return asked


async def _check_usage_access(ctx: ApiContext, partner_id: str) -> None:
    """SPEC section 4: a partner whose account type or region has no access to usage
    reports is told so (its reports are still built and billed)."""
    account = (await ctx.store.load_partners([partner_id])).get(partner_id)
    if account is None:
        return
    region = (await ctx.store.load_regions([account.region])).get(account.region)
    if not has_usage_reports(account, region):
        raise Forbidden(_NO_USAGE_REPORTS.format(partner_id))


_NO_USAGE_REPORTS = (
    "partner {} has no access to usage reports (its account type or region); "
    "its reports are submitted automatically at their deadline"
)


async def get_usage_report(request: web.Request) -> web.Response:
    caller = await _caller(request, EVERY_ROLE)
    lang, tz = _language(request), _zone(request)
    report = await _report(request, caller)
    if caller.role is Role.PARTNER and not report.partner_review:
        raise Forbidden(_NO_USAGE_REPORTS.format(report.partner_id))
    return _json(views.usage_report(report, lang, tz), lang)


async def health(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Readiness: the database answers (reads need nothing else); Kafka is reported too."""
    ctx = request.app[CONTEXT]
    checks: dict[str, str] = {}
    for name, probe in (("database", ctx.store.ping), ("kafka", ctx.kafka_ready)):
        try:
            await asyncio.wait_for(probe(), timeout=3)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"unavailable: {exc!r}"
    status = 200 if checks["database"] == "ok" else 503
    return web.json_response(
        {"status": "ready" if status == 200 else "not_ready", "checks": checks}, status=status
    )


async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = await render(ctx.store, ctx.lag, ctx.metrics)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def build_api(ctx: ApiContext) -> web.Application:
    app = web.Application(middlewares=[errors_and_metrics])
    app[CONTEXT] = ctx
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/v1/billing-reports", list_billing_reports)
    app.router.add_get("/v1/billing-reports.csv", export_billing_reports)
    app.router.add_get(r"/v1/billing-reports/{report_id:[^/]+}.csv", export_billing_report)
    app.router.add_get("/v1/billing-reports/{report_id}", get_billing_report)
    app.router.add_get("/v1/usage-reports", list_usage_reports)
    app.router.add_get("/v1/usage-reports/{report_id}", get_usage_report)
    return app
