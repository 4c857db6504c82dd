"""A processor's own metrics and readiness, served by the process itself.

Every processor keeps these in an in-process registry (prometheus_client) and, when
``LMP_METRICS_PORT`` names a port (0 or unset: off), serves them at ``/metrics`` with an
aiohttp server on the worker's loop, next to ``/ready``:

- ``lmp_processor_batch_seconds`` (histogram): the time to apply a batch;
- ``lmp_processor_records_total{topic,outcome}``: records applied (``applied``) and
  dead-lettered (``dead_lettered``);
- ``lmp_processor_in_flight_records``: records of the batch being applied;
- ``lmp_processor_seconds_since_commit``: since the last commit of offsets (since start
  when none yet);
- ``lmp_processor_consumer_lag{topic,partition}``: the high watermark minus the committed
  offset, for each partition assigned to this process;
- ``lmp_processor_outbox_backlog_events``: events the latest outbox sweep found left
  behind (committed, not published within the grace);
- ``lmp_processor_ready``: 1 when ready (below).

Ready means: not (lag > 0 and no commit for longer than ``LMP_READY_MAX_SECONDS_SINCE_COMMIT``,
default 120 s). ``/ready`` answers 200 or 503 with the reason; the heartbeat file is not
touched while not ready, so the compose healthcheck fails too.

One processor runs per process, so the process holds one ``ProcessMetrics`` (``current``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

from aiohttp import web
from mode import Service
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

PORT_VAR = "LMP_METRICS_PORT"
BOUND_VAR = "LMP_READY_MAX_SECONDS_SINCE_COMMIT"
DEFAULT_BOUND_SECONDS = 120.0
REFRESH_SECONDS = 5.0
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

Partition = tuple[str, int]
LagSource = Callable[[Mapping[Partition, int]], Awaitable[dict[Partition, tuple[int, int]]]]
"""Given the committed offsets known, each partition assigned now: its high watermark and
its committed offset (looked up when not known)."""


def port_from_environment(environ: Mapping[str, str] = os.environ) -> int:
    text = environ.get(PORT_VAR, "").strip() or "0"
    port = int(text)
    if not 0 <= port < 65536:
        raise ValueError(f"{PORT_VAR}: {text!r} is not a port")
    return port


def bound_from_environment(environ: Mapping[str, str] = os.environ) -> float:
    text = environ.get(BOUND_VAR, "").strip()
    return float(text) if text else DEFAULT_BOUND_SECONDS


class ProcessMetrics:
    """The metrics and readiness state of the processor this process runs."""

    def __init__(
        self,
        processor: str = "",
        *,
        bound_seconds: float = DEFAULT_BOUND_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.processor = processor
        self.bound_seconds = bound_seconds
        self._clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["processor"]
        self.batch_seconds = Histogram(
            "lmp_processor_batch_seconds",
            "Time to apply one batch",
            labels,
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.records = Counter(
            "lmp_processor_records",
            "Records applied, by outcome",
            [*labels, "topic", "outcome"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "lmp_processor_in_flight_records",
            "Records of the batch being applied",
            labels,
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "lmp_processor_outbox_backlog_events",
            "Events the latest outbox sweep found committed but not published",
            labels,
            registry=self.registry,
        )
        self.last_commit = clock()
        self.committed_offsets: dict[Partition, int] = {}
        self.highwater: dict[Partition, int] = {}
        self.lag_source: LagSource | None = None
        self.registry.register(_Live(self))

    # what the consumer paths report ---------------------------------------------

    @contextlib.contextmanager
    def batch(self, size: int) -> Iterator[None]:
        gauge = self.in_flight.labels(self.processor)
        gauge.inc(size)
        started = time.perf_counter()
        try:
            yield
        finally:
            gauge.dec(size)
            self.batch_seconds.labels(self.processor).observe(time.perf_counter() - started)

    def outcomes(self, topics: Sequence[str], dead_lettered: Sequence[str]) -> None:
        """The topic of each record applied, and of each one dead-lettered."""
        for outcome, names in (("applied", topics), ("dead_lettered", dead_lettered)):
            counts: dict[str, int] = {}
            for topic in names:
                counts[topic] = counts.get(topic, 0) + 1
            for topic, count in counts.items():
                self.records.labels(self.processor, topic, outcome).inc(count)

    def committed(self, offsets: Mapping[Partition, int]) -> None:
        """Offsets committed (the next record to read, per partition)."""
        self.last_commit = self._clock()
        self.committed_offsets.update(offsets)

    @property
    def lag(self) -> dict[Partition, int]:
        """Per partition assigned: high watermark minus committed offset."""
        return {
            tp: max(0, high - self.committed_offsets.get(tp, 0))
            for tp, high in self.highwater.items()
        }

    def swept(self, events: int) -> None:
        self.outbox_backlog.labels(self.processor).set(events)

    async def refresh(self) -> None:
        """The lag of every partition assigned now (from the consumer path's source)."""
        if self.lag_source is None:
            return
        try:
            found = await self.lag_source(self.committed_offsets)
        except Exception as exc:
            log.debug("consumer lag not known now: %r", exc)
            return
        self.highwater = {tp: high for tp, (high, _) in found.items()}
        for tp, (_, committed) in found.items():
            self.committed_offsets.setdefault(tp, committed)

    # readiness ------------------------------------------------------------------

    def seconds_since_commit(self) -> float:
        return self._clock() - self.last_commit

    def readiness(self) -> tuple[bool, str]:
        """Ready, and why (or why not)."""
        lag = sum(self.lag.values())
        since = self.seconds_since_commit()
        if lag > 0 and since > self.bound_seconds:
            return False, (
                f"{self.processor}: no commit for {since:.0f}s (bound {self.bound_seconds:.0f}s) "
                f"while {lag} records wait on its partitions"
            )
        return True, f"{self.processor}: ready (lag {lag}, last commit {since:.0f}s ago)"


class _Live:
    """Values computed when scraped: seconds since commit, lag, readiness."""

    def __init__(self, metrics: ProcessMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[GaugeMetricFamily]:
        return list(self.collect())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        m = self.metrics
        since = GaugeMetricFamily(
            "lmp_processor_seconds_since_commit",
            "Seconds since this process last committed offsets (since start when none)",
            labels=["processor"],
        )
        since.add_metric([m.processor], m.seconds_since_commit())
        yield since
        lag = GaugeMetricFamily(
            "lmp_processor_consumer_lag",
            "High watermark minus committed offset, per partition assigned to this process",
            labels=["processor", "topic", "partition"],
        )
        for (topic, partition), value in sorted(m.lag.items()):
            lag.add_metric([m.processor, topic, str(partition)], value)
        yield lag
        ready = GaugeMetricFamily(
            "lmp_processor_ready",
            "1 when the process is ready (docs/observability.md)",
            labels=["processor"],
        )
        ready.add_metric([m.processor], 1.0 if m.readiness()[0] else 0.0)
        yield ready


_current = ProcessMetrics()


def current() -> ProcessMetrics:
    """This process's metrics (one processor per process)."""
    return _current


def start(processor: str) -> ProcessMetrics:
    """Fresh metrics for ``processor``, now this process's."""
    global _current
    _current = ProcessMetrics(processor, bound_seconds=bound_from_environment())
    return _current


def app(metrics: ProcessMetrics) -> web.Application:
    """``/metrics`` and ``/ready``."""

    async def scrape(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})

    async def ready(_: web.Request) -> web.Response:
        ok, why = metrics.readiness()
        return web.Response(status=200 if ok else 503, text=why + "\n")

    application = web.Application()
    application.router.add_get("/metrics", scrape)
    application.router.add_get("/ready", ready)
    return application


class MetricsServer(Service):
    """Serves ``app(metrics)`` on ``port`` and refreshes the lag, on the worker's loop."""

    def __init__(self, metrics: ProcessMetrics, port: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics
        self.port = port
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        runner = web.AppRunner(app(self.metrics), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", self.port).start()  # noqa: S104
        self._runner = runner
        self._task = asyncio.create_task(self._refresh())
        log.info("%s: metrics on :%d (/metrics, /ready)", self.metrics.processor, self.port)

    async def _refresh(self) -> None:
        while True:
            await self.metrics.refresh()
            await asyncio.sleep(REFRESH_SECONDS)

    async def on_stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()


def next_offsets(messages: Sequence[Any]) -> dict[Partition, int]:
    """The offset after the last of ``messages`` (``InboundMessage``), per partition."""
    offsets: dict[Partition, int] = {}
    for message in messages:
        tp = (message.topic, message.partition)
        offsets[tp] = max(offsets.get(tp, 0), message.offset + 1)
    return offsets


def aiokafka_lag(consumer: Any) -> LagSource:
    """The lag source of the bulk path: an ``AIOKafkaConsumer``'s assignment."""

    async def lag(committed: Mapping[Partition, int]) -> dict[Partition, tuple[int, int]]:
        found: dict[Partition, tuple[int, int]] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            key = (tp.topic, tp.partition)
            done = committed.get(key)
            if done is None:
                done = await consumer.committed(tp) or 0
            found[key] = (high, done)
        return found

    return lag


def faust_lag(app: Any) -> LagSource:
    """The lag source of the agent path: the faust consumer's assignment (a partition
    this process has not yet committed on counts from its high watermark: no lag known)."""

    async def lag(committed: Mapping[Partition, int]) -> dict[Partition, tuple[int, int]]:
        consumer = app.consumer
        found: dict[Partition, tuple[int, int]] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None or tp.topic.endswith("-__assignor-__leader"):
                continue
            key = (tp.topic, tp.partition)
            found[key] = (high, committed.get(key, high))
        return found

    return lag


def attach(
    processor: Any, app: Any, name: str, instance: str | None, consumer: Any | None
) -> ProcessMetrics:
    """This process's metrics, log fields and traces for processor ``name``; serves them
    when ``LMP_METRICS_PORT`` is set (``processor.services`` starts the server)."""
    from services.observability import log_format, tracing

    metrics = start(name)
    log_format.set_process(processor=name, instance=instance)
    tracing.configure(name, instance or "")
    metrics.lag_source = _bulk_lag(consumer) if consumer is not None else faust_lag(app)
    port = port_from_environment()
    if port:
        processor.services.append(MetricsServer(metrics, port, loop=app.loop))
    return metrics


def _bulk_lag(bulk: Any) -> LagSource:
    """The bulk consumer's aiokafka consumer, once it has started."""

    async def lag(committed: Mapping[Partition, int]) -> dict[Partition, tuple[int, int]]:
        consumer = getattr(bulk, "_consumer", None)
        if consumer is None:
            return {}
        return await aiokafka_lag(consumer)(committed)

    return lag
