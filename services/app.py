"""The faust worker of one processor, built from what the bootstrap hands it.

Each processor is its own process and consumer group: ``lmp-billing process NAME``
builds a faust worker for it: a bulk consumer (aiokafka batches, started before the app)
or a faust agent (one actor, batches through ``take_events``) around the processor's
batch runner, and the app's timers (docs/architecture.md, "Two consumer paths").
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import faust
from mode import Service

from services import logs
from services.adapters.catalogue import Catalogue
from services.adapters.cloudevents_binding import normalise
from services.adapters.codec import InboundMessage
from services.adapters.faust_app import faust_app
from services.adapters.kafka_admin import group_name
from services.adapters.publisher import AiokafkaProducer, Producer, Publisher
from services.runtime import heartbeat, process_metrics
from services.runtime.batch_runner import BatchRunner
from services.runtime.bulk_consumer import BulkConsumer
from services.runtime.context import ProcessorSpec, Runtime
from services.runtime.exits import ExitCode, exit_uncommitted
from services.runtime.in_flight import finish_before_acking
from services.settings import Settings

log = logging.getLogger(__name__)

GC_THRESHOLDS = (50_000, 20, 100)
"""The collector's thresholds of a processor people wait on (the actions): short pauses."""
BULK_GC_THRESHOLDS = (200_000, 50, 1000)
"""Of a bulk processor (usage, accounts, pricing): fewer rescans of the batch it holds."""


@dataclass
class Processor:
    """One processor's faust app and the services its worker starts before the app."""

    app: faust.App
    services: list[Service] = field(default_factory=list)
    gc_thresholds: tuple[int, int, int] = GC_THRESHOLDS
    closing: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run once every service has stopped, before the loop is closed (the store)."""


class LazyRuntime:
    """The processor's runtime, built once on first use (by ``build`` with a publisher on
    the worker's producer), whichever agent, timer or consumer asks first."""

    def __init__(
        self, build: Callable[[Publisher], Awaitable[Runtime]], producer: Callable[[], Producer]
    ) -> None:
        self._build = build
        self._producer = producer
        self._lock = asyncio.Lock()
        self._runtime: Runtime | None = None

    async def __call__(self) -> Runtime:
        async with self._lock:
            if self._runtime is None:
                self._runtime = await self._build(Publisher(self._producer))
            return self._runtime

    @property
    def built(self) -> Runtime | None:
        """The runtime if something asked for it already (nothing is built at a stop)."""
        return self._runtime

    async def close(self) -> None:
        """Close the store, if built: its monitors are the tasks left at a stop."""
        if self._runtime is not None:
            await self._runtime.store.close()


def build_processor(
    settings: Settings,
    spec: ProcessorSpec,
    catalogue: Catalogue,
    build_runtime: Callable[[Publisher], Awaitable[Runtime]],
) -> Processor:
    """A faust app for one processor: its own consumer group, no web server, raw bytes.

    Its runtime is built once, on first use, by ``build_runtime`` with a publisher on the
    worker's producer (``services.bootstrap.runtime_builder``).
    """
    group = group_name(settings.consumer_group_prefix, spec.name)
    path = settings.action_consumer if spec.latency_sensitive else spec.consumer
    bulk = path == "bulk" and bool(spec.topics)
    # A bulk processor's topics are consumed by its own aiokafka group; faust's consumer
    # (timers, leader election) must not join that group.
    app = faust_app(settings, f"{group}-worker" if bulk else group, spec.name)
    gc_thresholds = GC_THRESHOLDS if spec.latency_sensitive else BULK_GC_THRESHOLDS
    processor = Processor(app, gc_thresholds=gc_thresholds)
    # A bulk processor publishes through a producer of its own, started with its consumer
    # before the faust app (faust's start-up takes a second it need not wait for).
    consumer: BulkConsumer | None = None

    def producer() -> Producer:
        return AiokafkaProducer(consumer.producer) if consumer is not None else app.producer

    runtime = LazyRuntime(build_runtime, producer)
    processor.closing.append(runtime.close)
    if bulk:
        consumer = _bulk_consumer(app, settings, catalogue, spec, group, runtime)
        processor.services.append(consumer)
    elif spec.topics:
        _attach_agent(app, settings, catalogue, spec, runtime)
    _attach_housekeeping(app, settings, runtime)
    process_metrics.attach(processor, app, spec.name, settings.instance_id, consumer)
    for make in spec.timers:
        _attach_timer(app, settings.timer_interval_seconds, runtime, make)
    if settings.heartbeat_file is not None:
        _attach_heartbeat(app, settings.heartbeat_file, runtime)
    return processor


def _attach_housekeeping(app: faust.App, settings: Settings, runtime: LazyRuntime) -> None:
    """Every instance's periodic jobs: the outbox sweep and the counters' flush."""

    @app.timer(settings.outbox_sweep_seconds)
    async def sweep_outbox() -> None:
        rt = await runtime()
        try:
            await rt.outbox.clear_published()  # ours, before anyone finds them old enough
            swept = await rt.outbox.sweep(
                rt.now(), timedelta(seconds=settings.outbox_grace_seconds)
            )
            process_metrics.current().swept(swept)  # the outbox backlog
        except Exception as exc:
            log.warning("outbox sweep failed, will retry: %r", exc)

    @app.on_before_shutdown.connect
    async def clear_published_outboxes(_app: Any, /, *_args: Any, **_kwargs: Any) -> None:
        """At a stop, so that no other processor's sweep publishes them again."""
        rt = runtime.built
        if rt is not None:
            await rt.outbox.clear_at_stop()

    @app.timer(settings.metrics_flush_seconds)
    async def flush_counters() -> None:
        rt = await runtime()
        taken = rt.counters.take()
        try:
            await rt.store.add_counters(rt.name, taken)
        except Exception as exc:
            rt.counters.give_back(taken)
            log.warning("counter flush failed, will retry: %r", exc)


def run_worker(build: Callable[[], Processor], settings: Settings) -> None:
    """Run the processor ``build`` makes in this process until SIGTERM/SIGINT (its topics
    must exist).

    Call while no event loop is running (after ``asyncio.run`` is fine): the loop policy
    and a new loop are set here, before the processor is built, since its faust app keeps
    the loop it finds then (built first, the processors ran on asyncio's own loop).
    """
    processor, worker = uvloop_worker(build, settings)
    # The modules and the app built so far live as long as the process: keeping them out
    # of the collector's generations shortens each full collection, a pause every
    # message in flight would wait through. Garbage first, so none is kept for good.
    gc.collect()
    gc.freeze()
    # A batch allocates hundreds of thousands of short-lived objects, freed by reference
    # counting; at the default threshold (700) the collector ran a young-generation pass
    # every few hundred of them, rescanning the batch as it was promoted: a third of the
    # usage path's time. A bulk processor's older generations were still rescanned with
    # its batch held in memory: fewer of those took 7 % off the usage processor's CPU per
    # message (bench_ingestion, two runs each); the action processors keep short pauses.
    gc.set_threshold(*processor.gc_thresholds)
    worker.execute_from_commandline()


def uvloop_worker(
    build: Callable[[], Processor], settings: Settings
) -> tuple[Processor, faust.Worker]:
    """The processor ``build`` makes and its worker, on uvloop (faust's own extra): less
    scheduling overhead per message on a busy machine. Sets the loop policy."""
    import mode.loop

    mode.loop.use("uvloop")
    asyncio.set_event_loop(asyncio.new_event_loop())  # not one a caller left set
    processor = build()
    return processor, build_worker(processor, settings)


def build_worker(processor: Processor, settings: Settings) -> faust.Worker:
    """The worker that runs ``app``, logging at ``settings.log_level``.

    At WARNING and above faust's progress spinner sets the root logger to DEBUG so it can
    spin on every record: aiokafka and PyMongo would then build a debug record for every
    request and command, a good share of a busy processor's CPU. No spinner, then.
    """
    worker = ProcessorWorker(
        processor.app,
        *processor.services,
        closing=processor.closing,
        loglevel=settings.log_level.upper(),
        quiet=True,
    )
    worker.spinner = None
    logs.adopt_worker(worker)  # LMP_LOG_FORMAT, the message's ids on each line
    return worker


class ProcessorWorker(faust.Worker):
    """faust's worker, less the two seconds mode's shutdown waits after every service has
    stopped: up to one for tasks nobody ends (the store's monitors, closed here first) and
    one more, unconditionally, before closing the loop (``_sentinel_task``; mode-streaming 0.7)."""

    def __init__(
        self, *services: Any, closing: list[Callable[[], Awaitable[None]]], **kwargs: Any
    ) -> None:
        super().__init__(*services, **kwargs)
        self._closing = closing

    def _shutdown_loop(self) -> None:
        for close in self._closing:
            try:
                self.loop.run_until_complete(close())
            except Exception as exc:
                log.warning("closing at the stop failed: %r", exc)
        super()._shutdown_loop()

    async def _sentinel_task(self) -> None:
        """Enough turns of the loop for the cancelled tasks' last callbacks."""
        await asyncio.sleep(0.05)


def _attach_timer(
    app: faust.App,
    interval: float,
    runtime: Callable[[], Awaitable[Runtime]],
    make: Callable[[Runtime], Callable[[], Awaitable[None]]],
) -> None:
    @app.timer(interval, on_leader=True, name=f"timer-{make.__name__}")
    async def tick() -> None:
        rt = await runtime()
        try:
            await make(rt)()
        except Exception as exc:
            log.warning("timer %s failed, will retry: %r", make.__name__, exc)


def _attach_heartbeat(
    app: faust.App, path: Path, runtime: Callable[[], Awaitable[Runtime]]
) -> None:
    """Touch ``path`` while the loop turns and the database answers (``heartbeat``)."""

    @app.timer(heartbeat.INTERVAL_SECONDS, name="heartbeat")
    async def beat() -> None:
        try:
            rt = await runtime()
            await asyncio.wait_for(rt.store.ping(), timeout=heartbeat.INTERVAL_SECONDS)
        except Exception as exc:
            log.warning("no heartbeat: the database did not answer a ping: %r", exc)
            return
        ready, why = process_metrics.current().readiness()  # readiness in the heartbeat
        if not ready:
            log.warning("no heartbeat: not ready: %s", why)
            return
        heartbeat.beat(path)


def _bulk_consumer(
    app: faust.App,
    settings: Settings,
    catalogue: Catalogue,
    spec: ProcessorSpec,
    group: str,
    runtime: Callable[[], Awaitable[Runtime]],
) -> BulkConsumer:
    """aiokafka batches in the processor's group, started before the app, stopped after."""

    async def runner() -> BatchRunner:
        rt = await runtime()
        return BatchRunner(rt, spec.handler(rt))

    window = (
        settings.action_batch_window_seconds
        if spec.latency_sensitive
        else settings.batch_window_seconds
    )
    return BulkConsumer(
        settings=settings,
        group_id=group,
        topics=[catalogue.physical(name) for name in spec.topics],
        runner=runner,
        window_seconds=window,
        hold_fetches=spec.latency_sensitive,
        loop=app.loop,
    )


def _attach_agent(
    app: faust.App,
    settings: Settings,
    catalogue: Catalogue,
    spec: ProcessorSpec,
    runtime: Callable[[], Awaitable[Runtime]],
) -> None:
    """One agent (one actor, so one batch at a time) over the processor's topics."""
    names = [catalogue.physical(name) for name in spec.topics]
    channel = app.topic(
        *names,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        internal=False,
    )

    @app.agent(channel, name=f"{spec.name}-agent", concurrency=1)
    async def agent(stream: Any) -> None:
        rt = await runtime()
        runner = BatchRunner(rt, spec.handler(rt))
        window = (
            settings.action_batch_window_seconds
            if spec.latency_sensitive
            else settings.batch_window_seconds
        )
        async for events in stream.take_events(settings.batch_size, within=window):
            batch = [
                InboundMessage(
                    topic=e.message.topic,
                    partition=e.message.partition,
                    offset=e.message.offset,
                    key=e.message.key,
                    value=e.message.value,
                    timestamp_ms=int((e.message.timestamp or 0) * 1000),
                    headers=normalise(e.message.headers),
                )
                for e in events
            ]
            try:
                await finish_before_acking(runner.run(batch), settings.shutdown_grace_seconds)
                process_metrics.current().committed(process_metrics.next_offsets(batch))
            except Exception:
                # Nothing may escape an agent (faust would ack the batch): a failure here
                # is a bug, so the process ends unacknowledged and loudly instead.
                log.critical("batch runner failed; exiting unacknowledged", exc_info=True)
                exit_uncommitted(ExitCode.SOFTWARE)
