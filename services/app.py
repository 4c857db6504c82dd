"""The composition root: settings, store, publisher, clock and the faust app, built once.

Each processor is its own process and consumer group: ``lmp-billing process NAME``
builds a faust app for it, declares its topics from ``topics.yaml`` and attaches one
batch agent (concurrency 1 per partition) around the processor's handler.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError
from pymongo.errors import ConnectionFailure, PyMongoError

from services.adapters.catalogue import Catalogue
from services.adapters.codec import InboundMessage, Poison
from services.adapters.counters import DEAD_LETTERED, PROCESSED, Counters
from services.adapters.kafka_admin import group_name
from services.adapters.publisher import Outbox, Publisher
from services.adapters.store import Store, connect
from services.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionFailure,
    KafkaError,
    ProducerSendError,
    TimeoutError,
    OSError,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """What a handler needs from the outside world, injected."""

    name: str
    settings: Settings
    catalogue: Catalogue
    store: Store
    outbox: Outbox
    clock: Clock = utc_now
    counters: Counters = field(default_factory=Counters)


class BatchHandler(Protocol):
    """Applies a batch idempotently; returns the messages that are poison."""

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]: ...


@dataclass(frozen=True)
class ProcessorSpec:
    name: str
    topics: tuple[str, ...]
    create: Callable[[Runtime], BatchHandler]
    timers: tuple[Callable[[Runtime], Callable[[], Awaitable[None]]], ...] = ()
    """Leader-only periodic jobs, every ``timer_interval_seconds``."""
    latency_sensitive: bool = False
    """People wait on it: batch within ``action_batch_window_seconds``, not the bulk window."""


@dataclass
class BatchRunner:
    """Runs a handler on a batch until it succeeds: the agent acks only after that.

    Faust acks whatever an agent raised on, so nothing may escape: transient errors are
    retried with back-off for as long as it takes; anything else is retried once per
    message and then dead-lettered, so one bad message cannot stall a partition.
    """

    runtime: Runtime
    handler: BatchHandler
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    attempts_before_split: int = 3
    _stats: dict[str, int] = field(default_factory=lambda: {"batches": 0, "poison": 0})

    async def run(self, batch: Sequence[InboundMessage]) -> None:
        started = time.perf_counter()
        poisons = await self._with_retries(batch)
        if poisons is None:
            poisons = []
            for message in batch:
                single = await self._with_retries([message])
                poisons.extend(
                    single
                    if single is not None
                    else [Poison(message, "processing_error", "failed repeatedly; see logs")]
                )
        for message in batch:
            self.runtime.counters.add(message.topic, PROCESSED)
        for poison in poisons:
            self.runtime.counters.add(poison.message.topic, DEAD_LETTERED)
        if poisons:
            self._stats["poison"] += len(poisons)
            await self._forever(
                lambda: self.runtime.outbox.dead_letter(
                    poisons, self.runtime.name, self.runtime.clock()
                )
            )
        self._stats["batches"] += 1
        log.debug(
            "%s: batch of %d in %.3fs", self.runtime.name, len(batch), time.perf_counter() - started
        )

    async def _with_retries(self, batch: Sequence[InboundMessage]) -> list[Poison] | None:
        failures = 0
        delay = self.runtime.settings.retry_backoff_seconds
        while True:
            try:
                return await self.handler.handle(batch)
            except TRANSIENT_ERRORS as exc:
                log.warning("transient error, retrying in %.1fs: %r", delay, exc)
            except PyMongoError as exc:
                failures += 1
                log.exception("database error (%d): %r", failures, exc)
            except Exception as exc:
                failures += 1
                log.exception("handler failed (%d) on %d messages: %r", failures, len(batch), exc)
            if failures >= self.attempts_before_split:
                return None
            await self.sleep(delay)
            delay = min(delay * 2, self.runtime.settings.retry_backoff_max_seconds)

    async def _forever(self, action: Callable[[], Awaitable[Any]]) -> None:
        delay = self.runtime.settings.retry_backoff_seconds
        while True:
            try:
                await action()
                return
            except Exception as exc:
                log.warning("publish failed, retrying in %.1fs: %r", delay, exc)
                await self.sleep(delay)
                delay = min(delay * 2, self.runtime.settings.retry_backoff_max_seconds)


def build_app(settings: Settings, spec: ProcessorSpec) -> faust.App:
    """A faust app for one processor: its own consumer group, no web server, raw bytes."""
    faust_dirs = settings.home / "faust"
    faust_dirs.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        group_name(settings.consumer_group_prefix, spec.name),
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        autodiscover=False,
        store="memory://",
        # faust makes a data directory per app even for in-memory tables; by default in
        # the working directory, which would litter the checkout with one per test group.
        datadir=str(faust_dirs / "{conf.name}"),
        web_enabled=False,
        producer_acks=-1,
        topic_replication_factor=settings.topic_replication or 1,
        topic_partitions=1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        # take_events can only gather what the stream buffer holds (faust's default, 4096,
        # caps every batch); bulk batches are what make ingestion cheap per message.
        stream_buffer_maxsize=max(4096, settings.batch_size),
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_seconds / 3),
    )
    catalogue = Catalogue.load(*settings.catalogue_args())
    state: dict[str, Any] = {}
    lock = asyncio.Lock()

    async def runtime() -> Runtime:
        async with lock:
            return await _build_runtime()

    async def _build_runtime() -> Runtime:
        if "runtime" not in state:
            store = connect(settings)
            await store.ensure_indexes()
            outbox = Outbox(
                store, Publisher(lambda: app.producer), catalogue, f"lmp-billing/{spec.name}"
            )
            state["runtime"] = Runtime(spec.name, settings, catalogue, store, outbox)
        rt: Runtime = state["runtime"]
        return rt

    if spec.topics:
        _attach_agent(app, settings, catalogue, spec, runtime)

    @app.timer(settings.outbox_sweep_seconds)
    async def sweep_outbox() -> None:
        rt = await runtime()
        try:
            await rt.outbox.sweep(rt.clock(), timedelta(seconds=settings.outbox_sweep_seconds))
        except Exception as exc:
            log.warning("outbox sweep failed, will retry: %r", exc)

    @app.timer(settings.metrics_flush_seconds)
    async def flush_counters() -> None:
        rt = await runtime()
        taken = rt.counters.take()
        try:
            await rt.store.add_counters(rt.name, taken)
        except Exception as exc:
            rt.counters.give_back(taken)
            log.warning("counter flush failed, will retry: %r", exc)

    for make in spec.timers:
        _attach_timer(app, settings.timer_interval_seconds, runtime, make)
    return app


def run_processor(settings: Settings, spec: ProcessorSpec) -> None:
    """Run ``spec``'s app in this process until SIGTERM/SIGINT (its topics must exist).

    Call while no event loop is running or set (after ``asyncio.run`` is fine): the loop
    policy is set here.
    """
    import mode.loop

    # faust's own uvloop extra: less scheduling overhead per message on a busy machine.
    mode.loop.use("uvloop")
    worker = build_worker(build_app(settings, spec), settings)
    # The modules and the app built so far live as long as the process: keeping them out
    # of the collector's generations shortens each full collection, a pause every
    # message in flight would wait through. Garbage first, so none is kept for good.
    gc.collect()
    gc.freeze()
    worker.execute_from_commandline()


def build_worker(app: faust.App, settings: Settings) -> faust.Worker:
    """The worker that runs ``app``, logging at ``settings.log_level``.

    At WARNING and above faust's progress spinner sets the root logger to DEBUG so it can
    spin on every record: aiokafka and PyMongo would then build a debug record for every
    request and command, a good share of a busy processor's CPU. No spinner, then.
    """
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    worker.spinner = None
    return worker


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


def _attach_agent(
    app: faust.App,
    settings: Settings,
    catalogue: Catalogue,
    spec: ProcessorSpec,
    runtime: Callable[[], Awaitable[Runtime]],
) -> None:
    """One agent over the processor's topics, batched, concurrency 1 per partition."""
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
        runner = BatchRunner(rt, spec.create(rt))
        window = (
            settings.action_batch_window_seconds
            if spec.latency_sensitive
            else settings.batch_window_seconds
        )
        async for events in stream.take_events(settings.batch_size, within=window):
            await runner.run(
                [
                    InboundMessage(
                        topic=e.message.topic,
                        partition=e.message.partition,
                        offset=e.message.offset,
                        key=e.message.key,
                        value=e.message.value,
                    )
                    for e in events
                ]
            )
