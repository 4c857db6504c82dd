"""A request's parameters, checked: query models, time zone, language.

A bad parameter raises (``BadRequest`` or pydantic's ``ValidationError``) and the
middleware answers 400 with the parameter's name.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from schemas.api import ReportQuery, UsageQuery
from services.api.context import CONTEXT
from services.api.labels import Language, negotiate_language
from services.api.middleware import BadRequest


def language(request: web.Request) -> Language:
    return negotiate_language(request.headers.get("Accept-Language"))


def zone(request: web.Request) -> ZoneInfo:
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


def report_query(request: web.Request) -> ReportQuery:
    raw = _params(request, {"status"})
    if isinstance(raw.get("status"), list):
        raw["status"] = [s for value in raw["status"] for s in value.split(",") if s]
    query = ReportQuery.model_validate(raw)
    ceiling = request.app[CONTEXT].page_size_max
    if query.page_size > ceiling:
        raise BadRequest(f"page_size: at most {ceiling}")
    return query


def usage_query(request: web.Request) -> UsageQuery:
    return UsageQuery.model_validate(_params(request, set()))
