"""A request's parameters, checked: query models, time zone, language.

A bad parameter raises (``BadRequest`` or pydantic's ``ValidationError``) and the
middleware answers 400 with the parameter's name. Two parameters are preferences about
how an answer is written rather than what it holds, and never refuse a request: the
language (``Accept-Language``, English unless French is preferred) and the time zone
(``tz``, UTC unless the name is one this server knows). The answer names what it used
(``Content-Language``, ``Content-Time-Zone``), and every time carries its UTC offset, so
a name the server does not know changes how an instant is written, never which it is.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from schemas.api import HistoryQuery, ReportQuery, UsageQuery
from services.api.context import CONTEXT
from services.domain.labels import Language, negotiate_language

UTC_ZONE = ZoneInfo("UTC")


def language(request: web.Request) -> Language:
    return negotiate_language(request.headers.get("Accept-Language"))


def zone(request: web.Request) -> ZoneInfo:
    """The IANA time zone ``tz`` names, or UTC for a name this server does not know."""
    name = request.query.get("tz", "UTC")
    if not name or len(name) > 255 or "\x00" in name:
        return UTC_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC_ZONE


def _params(request: web.Request, lists: set[str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name in request.query:
        if name == "tz" or name in raw:
            continue
        raw[name] = request.query.getall(name) if name in lists else request.query[name]
    return raw


def report_query(request: web.Request) -> ReportQuery:
    """The list query; a ``page_size`` above the server's ceiling is answered with the
    ceiling (the answer's ``page_size`` says so), as list APIs commonly do."""
    raw = _params(request, {"status"})
    if isinstance(raw.get("status"), list):
        raw["status"] = [s for value in raw["status"] for s in value.split(",")]
    query = ReportQuery.model_validate(raw)
    ceiling = request.app[CONTEXT].page_size_max
    if query.page_size > ceiling:
        query = query.model_copy(update={"page_size": ceiling})
    return query


def history_query(request: web.Request) -> HistoryQuery:
    """A page of a report's history; ``page_size`` above the ceiling is the ceiling."""
    query = HistoryQuery.model_validate(_params(request, set()))
    ceiling = request.app[CONTEXT].page_size_max
    if query.page_size > ceiling:
        query = query.model_copy(update={"page_size": ceiling})
    return query


def usage_query(request: web.Request) -> UsageQuery:
    return UsageQuery.model_validate(_params(request, set()))
