"""Serving the read API: its Kafka probes, and the server run from what the bootstrap wires."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket

from aiohttp import web

from services import bootstrap
from services.adapters.kafka_probes import KafkaProbes
from services.adapters.kafka_security import kafka_connection
from services.api.context import ApiContext
from services.api.server import build_api
from services.api.workers import READY
from services.settings import Settings

log = logging.getLogger(__name__)


def api_context(settings: Settings) -> ApiContext:
    """What the read API serves from: the store, consumer lag and a Kafka probe, wired
    from the bootstrap's store, catalogue and clock."""
    probes = KafkaProbes(
        kafka_connection(settings), bootstrap.catalogue(settings), settings.consumer_group_prefix
    )
    return ApiContext(
        store=bootstrap.store(settings),
        clock=bootstrap.clock,
        lag=probes.lag,
        kafka_ready=probes.kafka_ready,
        page_size_max=settings.api_page_size_max,
        key_cache_seconds=settings.api_key_cache_seconds,
    )


async def serve(settings: Settings, lifeline: socket.socket | None = None) -> None:
    """Run until SIGINT/SIGTERM; as one of a pool's workers (``lifeline`` given), share the
    port with the others and stop also when the pool's parent is gone."""
    ctx = api_context(settings)
    await ctx.store.ensure_indexes()
    runner = web.AppRunner(build_api(ctx), access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner, settings.api_host, settings.api_port, reuse_port=lifeline is not None
    )
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if lifeline is None:
        log.info(
            "read API on http://%s:%d (OpenAPI at /openapi.json)",
            settings.api_host,
            settings.api_port,
        )
    else:
        _hold(lifeline, stop)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await ctx.store.close()


def _hold(lifeline: socket.socket, stop: asyncio.Event) -> None:
    """Tell the pool's parent this worker listens; stop when the parent's end closes."""
    lifeline.setblocking(False)
    lifeline.send(READY)
    loop = asyncio.get_running_loop()

    def parent_gone() -> None:
        loop.remove_reader(lifeline.fileno())
        log.warning("the API's parent process is gone: stopping")
        stop.set()

    loop.add_reader(lifeline.fileno(), parent_gone)
