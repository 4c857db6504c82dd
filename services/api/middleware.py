"""The read API's one middleware: every failure becomes a JSON ``Problem``, every answer
is counted and timed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from schemas.api import Problem
from services.api.auth import Forbidden, Unauthorized
from services.api.context import CONTEXT

log = logging.getLogger(__name__)


class BadRequest(Exception):
    """A query the API cannot answer; the message names the parameter (HTTP 400)."""


class NotFound(Exception):
    """No such report (HTTP 404)."""


def problem(status: int, error: str, message: str, **headers: str) -> web.Response:
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
        response = problem(401, "unauthorized", str(exc), **{"WWW-Authenticate": "Bearer"})
    except Forbidden as exc:
        response = problem(403, "forbidden", str(exc))
    except (BadRequest, ValidationError) as exc:
        message = _validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
        response = problem(400, "bad_request", message)
    except NotFound as exc:
        response = problem(404, "not_found", str(exc))
    except web.HTTPException as exc:
        if exc.status >= 400:
            response = problem(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        else:
            raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("failed to answer %s %s", request.method, request.path_qs)
        response = problem(500, "internal_error", "the server failed to answer; see its log")
    ctx.metrics.requests.labels(route_name, str(response.status)).inc()
    ctx.metrics.worker_requests.labels(ctx.metrics.worker).inc()
    ctx.metrics.latency.labels(route_name).observe(time.perf_counter() - started)
    return response
