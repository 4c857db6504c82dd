"""The API's own endpoints, without a key: liveness, readiness, metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic_core import to_json

from schemas.api import Health, Readiness
from services.api.context import CONTEXT
from services.api.metrics import render


def _json(model: Health | Readiness, status: int = 200) -> web.Response:
    return web.Response(
        body=to_json(model), status=status, content_type="application/json", charset="utf-8"
    )


async def health(_request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return _json(Health())


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
    ok = checks["database"] == "ok"
    return _json(
        Readiness(status="ready" if ok else "not_ready", checks=checks), 200 if ok else 503
    )


async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = await render(ctx.store, ctx.lag, ctx.metrics)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})
