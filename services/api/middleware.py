"""The read API's one middleware: every failure becomes problem details (RFC 9457), every
answer is counted and timed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from aiohttp import hdrs, web
from pydantic import ValidationError
from pydantic_core import to_json

from schemas.api import Problem
from services.adapters.failures import is_transient
from services.api.auth import Forbidden, Unauthorized
from services.api.context import CONTEXT

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

RETRY_AFTER_SECONDS = 5
"""What a 503 asks a client to wait: the database is away (a restart takes seconds)."""

_KEPT_HEADERS = (hdrs.ALLOW, hdrs.WWW_AUTHENTICATE, hdrs.RETRY_AFTER)
"""Headers of aiohttp's own errors that belong in the answer (405 names what is allowed)."""


class BadRequest(Exception):
    """A query the API cannot answer; the message names the parameter (HTTP 400)."""


class NotFound(Exception):
    """No such report (HTTP 404)."""


def problem(status: int, code: str, detail: str, **headers: str) -> web.Response:
    """An error answer: ``application/problem+json`` with the status's phrase as title."""
    body = Problem(
        type="about:blank",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
    )
    return web.Response(
        body=to_json(body),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
        charset="utf-8",
        headers=headers,
    )


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "query"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _from_http_error(exc: web.HTTPException) -> web.Response:
    """aiohttp's own refusals (no such path, a method the path does not take) as problems."""
    try:
        phrase = HTTPStatus(exc.status).phrase
    except ValueError:
        phrase = exc.reason
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    detail = exc.reason
    if exc.status == 405 and isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        detail = f"{exc.method} is not allowed here; allowed: {allowed}"
    elif exc.status == 404:
        detail = "no such resource; the API's paths are in /openapi.json"
    kept = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        kept[hdrs.ALLOW] = ", ".join(sorted(exc.allowed_methods))
    return problem(exc.status, code, detail, **kept)


async def _answer(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except Unauthorized as exc:
        return problem(401, "unauthorized", str(exc), **{hdrs.WWW_AUTHENTICATE: "Bearer"})
    except Forbidden as exc:
        return problem(403, "forbidden", str(exc))
    except (BadRequest, ValidationError) as exc:
        message = _validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
        return problem(400, "bad_request", message)
    except NotFound as exc:
        return problem(404, "not_found", str(exc))
    except web.HTTPException as exc:
        if exc.status >= 400:
            return _from_http_error(exc)
        raise
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if is_transient(exc):
            log.warning("cannot answer %s %r: %r", request.method, request.path, exc)
            return problem(
                503,
                "unavailable",
                "the database does not answer; try again shortly",
                **{hdrs.RETRY_AFTER: str(RETRY_AFTER_SECONDS)},
            )
        log.exception("failed to answer %s %r", request.method, request.path)  # %r: ids hold CR/LF
        return problem(500, "internal_error", "the server failed to answer; see its log")


@web.middleware
async def errors_and_metrics(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every failure becomes a problem-details answer; every answer is counted and timed."""
    ctx = request.app[CONTEXT]
    route = request.match_info.route.resource
    route_name = route.canonical if route is not None else "unmatched"
    started = time.perf_counter()
    response = await _answer(request, handler)
    ctx.metrics.requests.labels(route_name, str(response.status)).inc()
    ctx.metrics.worker_requests.labels(ctx.metrics.worker).inc()
    ctx.metrics.latency.labels(route_name).observe(time.perf_counter() - started)
    return response
