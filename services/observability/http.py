"""Traces of the read API's requests: an aiohttp middleware.

Each request is a server span, continuing the caller's trace when it sends a W3C
``traceparent`` header; the route, method and answer's status are attributes. While
tracing is off the API gets no middleware at all.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from aiohttp import web
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.observability import tracing

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PROPAGATOR = TraceContextTextMapPropagator()


@web.middleware
async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
    tracer = tracing.tracer()
    if tracer is None:
        return await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    ctx = _PROPAGATOR.extract(dict(request.headers))
    with tracer.start_as_current_span(
        f"{request.method} {route}",
        context=ctx,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": request.method, "http.route": route},
    ) as span:
        try:
            answer = await handler(request)
        except web.HTTPException as exc:
            span.set_attribute("http.response.status_code", exc.status)
            raise
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, repr(exc)[:200]))
            raise
        span.set_attribute("http.response.status_code", answer.status)
        if answer.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        return answer


def middlewares() -> list[Callable[..., Awaitable[web.StreamResponse]]]:
    """The tracing middleware when tracing is on (configured here for the API)."""
    if not tracing.enabled():
        tracing.configure("api", os.environ.get("LMP_INSTANCE_ID", ""))
    return [traced] if tracing.enabled() else []
