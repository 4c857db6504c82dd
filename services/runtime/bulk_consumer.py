"""The bulk consumer path: aiokafka batches, committed after they are applied.

faust's per-event machinery caps a processor at a few thousand messages a second on this
machine (docs/architecture.md, "Two consumer paths"); the bulk processors consume with a plain
``AIOKafkaConsumer`` instead, hosted as a service inside the faust worker so the process
keeps faust's lifecycle, signals, logging and timers. The guarantees are the agents':

- a batch's offsets are committed only after ``BatchRunner.run`` applied it (manual
  commit, ``enable_auto_commit=False``), so a crash redelivers, never skips;
- when partitions are revoked (a rebalance), the batch in flight is finished and
  committed first, so the next owner starts where this one stopped;
- on stop (SIGTERM) the batch in flight is finished and committed, then the consumer
  leaves its group; a batch that cannot finish within the grace ends the process
  uncommitted, as the agents do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from mode import Service

from services.adapters.cloudevents_binding import normalise
from services.adapters.codec import InboundMessage
from services.adapters.failures import is_transient
from services.adapters.kafka_security import kafka_connection
from services.runtime import process_metrics
from services.runtime.backoff import Backoff
from services.runtime.batch_runner import BatchRunner
from services.runtime.exits import ExitCode, exit_uncommitted
from services.runtime.in_flight import finish_before_acking
from services.settings import Settings

log = logging.getLogger(__name__)

FETCH_MIN_BYTES = 64 * 1024
"""What the broker gathers for a held fetch before answering it (``hold_fetches``)."""


class _FinishBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: BulkConsumer) -> None:
        self._owner = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Records fetched before this point are dropped unapplied (their owner fetches them
        # again); the batch in flight is waited for, with its commit, before the partitions
        # go. The wait is on that task alone, never on the consumer loop: the loop may be
        # inside ``getmany``, which waits for this very rebalance to end.
        self._owner.rebalances += 1
        in_flight = self._owner.in_flight
        if in_flight is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(in_flight)
        if revoked:
            log.info("%s: partitions revoked: %s", self._owner.group_id, sorted(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("%s: partitions assigned: %s", self._owner.group_id, sorted(assigned))


class BulkConsumer(Service):
    """Feeds a processor's batch runner from an aiokafka consumer group.

    It also owns the producer its processor publishes with: both start before the faust
    app and stop after it.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        group_id: str,
        topics: Sequence[str],
        runner: Callable[[], Any],
        window_seconds: float,
        hold_fetches: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.group_id = group_id
        self.rebalances = 0
        """Rebalances begun; records fetched before the latest one are not applied here."""
        self.topics = list(topics)
        self._runner_factory = runner
        self._producer: AIOKafkaProducer | None = None
        self._window = window_seconds
        self._hold_fetches = hold_fetches
        """Fetches held at the broker until ``FETCH_MIN_BYTES`` or half the window (the
        action processors): with the default, one byte, a consumer fetched once per record
        or two at 400 actions a second, and each fetch costs the processor and the broker
        more than the record (about 4 % of each one's CPU per action, docs/performance.md,
        "Fifth pass"); the batch waits its window anyway. Not for the long windows of the
        bulk processors: the tail of a backlog would wait for bytes that never come."""
        self.in_flight: asyncio.Future[None] | None = None
        """The batch being applied and committed; a revocation waits for it."""
        self._stopping = False
        self._consumer: AIOKafkaConsumer | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._runner: BatchRunner | None = None

    async def on_start(self) -> None:
        settings = self.settings
        session_ms = int(settings.kafka_session_timeout_seconds * 1000)
        instance = f"{self.group_id}-{settings.instance_id}" if settings.instance_id else None
        brokers = kafka_connection(settings)
        consumer = AIOKafkaConsumer(
            **brokers.client_kwargs(),
            group_id=self.group_id,
            group_instance_id=instance,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=min(3000, session_ms // 3),
            rebalance_timeout_ms=session_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            **self._fetch_options(),
        )
        consumer.subscribe(self.topics, listener=_FinishBeforeRevoke(self))
        self._producer = AIOKafkaProducer(
            **brokers.client_kwargs(),
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_request_size=2 * 1024 * 1024,
        )
        await self._producer.start()
        await consumer.start()
        self._consumer = consumer
        runner: BatchRunner = await self._runner_factory()
        self._runner = runner
        self._loop_task = asyncio.create_task(self._consume(consumer, runner))
        self._loop_task.add_done_callback(self._loop_ended)

    def _fetch_options(self) -> dict[str, int]:
        if not self._hold_fetches:
            return {}
        return {
            "fetch_min_bytes": FETCH_MIN_BYTES,
            "fetch_max_wait_ms": max(1, int(self._window * 500)),
        }

    def _loop_ended(self, _task: asyncio.Task[None]) -> None:
        """The loop ends only when stopping; otherwise the partitions would stall unseen."""
        if self._stopping:
            return
        log.critical("%s: the consumer loop ended unexpectedly; exiting", self.group_id)
        exit_uncommitted(ExitCode.SOFTWARE)

    async def _consume(self, consumer: AIOKafkaConsumer, runner: BatchRunner) -> None:
        """Apply batch after batch, fetching and decoding the next while one is applied.

        Decoding is CPU in this process, applying mostly waits on the database: the two
        overlap, one batch ahead. Records fetched before a rebalance began are dropped
        unapplied: positions go back to the committed offsets, and whoever owns each
        partition now fetches them again. Nothing may escape this loop unseen (a stalled
        partition is the one failure with no symptom): what a retry can cure is retried
        from the committed offsets; anything else ends the process uncommitted and loudly,
        for the supervisor to restart it.
        """
        backoff = Backoff(
            self.settings.retry_backoff_seconds, self.settings.retry_backoff_max_seconds
        )
        ahead: list[InboundMessage] = []
        ahead_fetched_at = 0
        rewind = False
        while not self._stopping:
            try:
                if rewind:
                    await _rewind(consumer)
                    rewind = False
                if ahead:
                    batch, fetched_at = ahead, ahead_fetched_at
                else:
                    fetched_at = self.rebalances
                    batch = await self._gather(consumer)
                ahead = []
                if not batch:
                    continue
                if fetched_at != self.rebalances:
                    # Some of it may have been fetched after the rebalance, from positions
                    # the new assignment started at: dropped, those records would be
                    # skipped until the next rebalance (and lost once a later batch
                    # commits past them). Back to the committed offsets, then.
                    rewind = True
                    continue
                # No await between the check and this: a revocation either came before
                # (the batch is dropped) or finds the batch in flight and waits for it.
                applying = self.in_flight = asyncio.ensure_future(
                    self._apply(consumer, runner, batch)
                )
                try:
                    ahead_fetched_at = self.rebalances
                    ahead = await self._gather(consumer, busy=applying)
                    runner.prepare(ahead)
                finally:
                    # Even when fetching ahead fails: the batch is finished, never left
                    # running beside the next one.
                    try:
                        await applying
                    finally:
                        self.in_flight = None
                backoff.reset()
            except Exception as exc:
                ahead, rewind = [], True
                if not is_transient(exc):
                    log.critical(
                        "%s: consumer failed; exiting uncommitted", self.group_id, exc_info=True
                    )
                    exit_uncommitted(ExitCode.SOFTWARE)
                pause = backoff.pause()
                log.warning("%s: %r; retrying in %.1fs", self.group_id, exc, pause)
                await asyncio.sleep(pause)

    async def _apply(
        self, consumer: AIOKafkaConsumer, runner: BatchRunner, batch: list[InboundMessage]
    ) -> None:
        """One batch applied, then its offsets committed (a stop lets it finish in grace)."""
        await finish_before_acking(runner.run(batch), self.settings.shutdown_grace_seconds)
        await self._commit(consumer, batch)

    async def _gather(
        self, consumer: AIOKafkaConsumer, busy: asyncio.Future[None] | None = None
    ) -> list[InboundMessage]:
        """Up to ``batch_size`` records, waiting at most the window for more to come.

        Gathered while the batch ``busy`` is applied, it also takes what arrived until
        that batch is done: a record that came after the window but before the batch
        ahead of it finished is applied next, not one whole batch later (after a stall,
        the backlog is caught up in one larger batch instead of batch after batch).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._window
        batch: list[InboundMessage] = []
        size = self.settings.batch_size
        while len(batch) < size and not self._stopping:
            left_ms = int((deadline - loop.time()) * 1000)
            if left_ms <= 0:
                break
            fetched = await consumer.getmany(timeout_ms=left_ms, max_records=size - len(batch))
            if not fetched:
                break
            batch.extend(_inbound(fetched))
        if busy is not None and not busy.done() and len(batch) < size and not self._stopping:
            await asyncio.wait({busy})  # its outcome is the consumer loop's to handle
            fetched = await consumer.getmany(timeout_ms=0, max_records=size - len(batch))
            batch.extend(_inbound(fetched))
        return batch

    async def _commit(self, consumer: AIOKafkaConsumer, batch: Sequence[InboundMessage]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for message in batch:
            tp = TopicPartition(message.topic, message.partition)
            offsets[tp] = max(offsets.get(tp, 0), message.offset + 1)
        # A partition taken away while the batch ran (evicted) is not ours to commit; its
        # new owner applies those records again, which changes nothing.
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
            process_metrics.current().committed(  # seconds since commit, lag
                {(tp.topic, tp.partition): offset for tp, offset in offsets.items()}
            )
        except (CommitFailedError, KafkaError) as exc:
            # The group moved on (a rebalance): whoever owns the partitions now gets
            # these messages again, and applying them twice changes nothing.
            log.warning("%s: commit failed, the batch will be redelivered: %r", self.group_id, exc)

    async def on_stop(self) -> None:
        self._stopping = True
        task = self._loop_task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(
                    asyncio.shield(task), timeout=self.settings.shutdown_grace_seconds
                )
            except TimeoutError:
                log.error(
                    "%s: the batch in flight did not finish within %.0fs of the stop; exiting "
                    "without committing it (it will be delivered again)",
                    self.group_id,
                    self.settings.shutdown_grace_seconds,
                )
                exit_uncommitted(ExitCode.TEMPFAIL)
            except Exception:
                log.critical("%s: consumer loop failed", self.group_id, exc_info=True)
        if self._runner is not None:
            await self._runner.finish()  # after the batch in flight, which may publish
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    @property
    def producer(self) -> AIOKafkaProducer:
        """The processor's producer (events, dead letters), started with the consumer."""
        if self._producer is None:
            raise RuntimeError(f"{self.group_id}: the producer is not started yet")
        return self._producer


def _inbound(fetched: dict[TopicPartition, list[Any]]) -> list[InboundMessage]:
    return [
        InboundMessage(
            topic=r.topic,
            partition=r.partition,
            offset=r.offset,
            key=r.key,
            value=r.value,
            timestamp_ms=r.timestamp,
            headers=normalise(r.headers),
        )
        for records in fetched.values()
        for r in records
    ]


async def _rewind(consumer: AIOKafkaConsumer) -> None:
    """Every partition held back to its committed offset, or to its beginning where the
    group has none (``auto_offset_reset="earliest"``). aiokafka's ``seek_to_committed``
    leaves a partition without a commit (or committed at 0) where it is, and fails when
    none is held."""
    for tp in consumer.assignment():
        offset = await consumer.committed(tp)
        if tp not in consumer.assignment():
            continue  # taken away meanwhile: its new owner starts at the committed offset
        if offset is None or offset < 0:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, offset)
