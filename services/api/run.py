"""Serving the read API: its Kafka probes, and the server run from what the bootstrap wires."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiokafka.admin import AIOKafkaAdminClient

from services.adapters.catalogue import Catalogue
from services.adapters.kafka_admin import topic_status
from services.adapters.kafka_security import KafkaConnection
from services.api.metrics import LagRow
from services.api.server import build_api
from services.api.workers import READY
from services.bootstrap import api_context
from services.settings import Settings

log = logging.getLogger(__name__)


def kafka_probes(
    settings: Settings, catalogue: Catalogue, bootstrap: KafkaConnection
) -> tuple[Callable[[], Awaitable[list[LagRow]]], Callable[[], Awaitable[None]]]:
    """The consumer lag the metrics show and the probe readiness asks Kafka with."""

    async def lag() -> list[LagRow]:
        if not bootstrap.bootstrap_servers:
            return []
        rows = await topic_status(
            bootstrap, catalogue, settings.consumer_group_prefix, discover_groups=False
        )
        return [(g.group, t.name, g.lag) for t in rows for g in t.groups if g.partitions_committed]

    async def kafka_ready() -> None:
        if not bootstrap.bootstrap_servers:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set")
        admin = AIOKafkaAdminClient(**bootstrap.client_kwargs(), request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.describe_cluster()
        finally:
            await admin.close()

    return lag, kafka_ready


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
