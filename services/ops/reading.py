"""Reading topics without a consumer group: records of a window, records at positions.

Looking never moves a processor's offsets: every consumer here is assigned its
partitions and commits nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.adapters.catalogue import Catalogue
from services.adapters.cloudevents_binding import normalise
from services.adapters.kafka_admin import live_partitions
from services.adapters.kafka_security import Brokers, client_kwargs

log = logging.getLogger(__name__)


log = logging.getLogger(__name__)


POLL_MS = 500
STALLED_POLLS = 20
"""Empty polls in a row after which a partition that never reaches its end is given up."""

Position = tuple[str, int, int]
"""(topic, partition, offset) of one record."""


class OpsError(Exception):
    """A request the operator can correct (unknown topic, unknown offset)."""


@dataclass(frozen=True)
class TopicRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    """None for a tombstone (a null value)."""
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return None


def resolve_topics(catalogue: Catalogue, names: Sequence[str]) -> list[str]:
    """Physical names of the topics asked for by contract or physical name; all by default."""
    if not names:
        return list(catalogue.topics)
    resolved = []
    for name in names:
        physical = name if name in catalogue.topics else catalogue.physical(name)
        if physical not in catalogue.topics:
            known = ", ".join(t.removeprefix(catalogue.namespace) for t in catalogue.topics)
            raise OpsError(f"unknown topic {name!r}; topics.yaml has {known}")
        resolved.append(physical)
    return list(dict.fromkeys(resolved))


@contextlib.asynccontextmanager
async def open_consumer(bootstrap: Brokers) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), enable_auto_commit=False)
    try:
        await consumer.start()
        yield consumer
    finally:
        await consumer.stop()


async def live_topic_partitions(bootstrap: Brokers, topics: Iterable[str]) -> list[TopicPartition]:
    names = list(topics)
    live = await live_partitions(bootstrap, names)
    tps = []
    for topic in names:
        if topic not in live:
            raise OpsError(
                f"topic {topic} does not exist (run `lmp-billing topics ensure`) or this "
                "principal may not describe it (`lmp-billing topics acls`)"
            )
        tps += [TopicPartition(topic, p) for p in live[topic]]
    return tps


async def read_window(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    since: datetime | None,
    last: int | None,
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Where to start on each partition, and its end offset now."""
    beginning: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    starts = dict(beginning)
    if since is not None:
        found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        starts = {tp: found[tp].offset if found[tp] else ends[tp] for tp in tps}
    if last is not None:
        starts = {tp: max(starts[tp], ends[tp] - last) for tp in tps}
    return starts, ends


async def read_range(  # noqa: C901 - the read loop and its stop conditions in one place
    consumer: AIOKafkaConsumer,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int] | None,
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[TopicRecord, None]:
    """From ``starts`` up to ``ends``; with no ends, on and on (following) until ``stop``."""
    tps = list(starts)
    consumer.assign(tps)
    consumer.resume(*tps)
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    pending = set(tps) if ends is None else {tp for tp in tps if starts[tp] < ends[tp]}
    if ends is not None:
        consumer.pause(*(set(tps) - pending))
    empty_polls = 0
    while pending and not (stop is not None and stop.is_set()):
        batch = await consumer.getmany(timeout_ms=POLL_MS)
        empty_polls = 0 if batch else empty_polls + 1
        for tp, records in sorted(batch.items()):
            for rec in records:
                if ends is None or rec.offset < ends[tp]:
                    yield topic_record(rec)
        if ends is None:
            continue
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
                consumer.pause(tp)
        if empty_polls >= STALLED_POLLS:
            log.warning(
                "gave up reading %s: no messages before their end offsets",
                ", ".join(f"{tp.topic} {tp.partition}" for tp in sorted(pending)),
            )
            return


def topic_record(rec: Any) -> TopicRecord:
    """An aiokafka ``ConsumerRecord`` as a ``TopicRecord`` (a null value stays None; a
    header's null value reads as empty)."""
    return TopicRecord(
        rec.topic,
        rec.partition,
        rec.offset,
        rec.timestamp,
        rec.key,
        rec.value,
        normalise(rec.headers),
    )


async def read_at(
    bootstrap: Brokers, positions: Iterable[Position]
) -> tuple[dict[Position, TopicRecord], dict[TopicPartition, tuple[int, int]]]:
    """The records at ``positions`` that are still retained, each read by seeking to it,
    and the retained range ``[first, end)`` of every partition of their topics."""
    wanted = sorted(set(positions))
    live = await live_partitions(bootstrap, {topic for topic, _, _ in wanted})
    tps = [TopicPartition(topic, p) for topic, partitions in live.items() for p in partitions]
    if not tps:
        return {}, {}
    found: dict[Position, TopicRecord] = {}
    async with open_consumer(bootstrap) as consumer:
        firsts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        ranges = {tp: (firsts[tp], ends[tp]) for tp in tps}
        for position in wanted:
            record = await _one_at(consumer, position, ranges)
            if record is not None:
                found[position] = record
    return found, ranges


async def _one_at(
    consumer: AIOKafkaConsumer, position: Position, ranges: dict[TopicPartition, tuple[int, int]]
) -> TopicRecord | None:
    topic, partition, offset = position
    tp = TopicPartition(topic, partition)
    first, end = ranges.get(tp, (0, 0))
    if not first <= offset < end:
        return None
    if consumer.assignment() != {tp}:
        consumer.assign([tp])
    consumer.seek(tp, offset)
    for _ in range(STALLED_POLLS):
        batch = await consumer.getmany(tp, timeout_ms=POLL_MS, max_records=1)
        for rec in batch.get(tp, []):
            return topic_record(rec) if rec.offset == offset else None
        if await consumer.position(tp) > offset:
            return None
    return None


async def read_records(
    bootstrap: Brokers,
    topics: Sequence[str],
    *,
    since: datetime | None = None,
    last: int | None = None,
) -> AsyncGenerator[TopicRecord, None]:
    """Records of ``topics`` up to the end offsets seen now: all retained, those written
    ``since``, or the ``last`` N per partition."""
    tps = await live_topic_partitions(bootstrap, topics)
    async with open_consumer(bootstrap) as consumer:
        starts, ends = await read_window(consumer, tps, since, last)
        async for record in read_range(consumer, starts, ends):
            yield record
