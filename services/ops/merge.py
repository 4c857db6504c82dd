"""The partitions of several topics merged in time order, a bounded buffer each."""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque
from collections.abc import AsyncGenerator, Iterable, Iterator, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.ops.reading import POLL_MS, STALLED_POLLS, TopicRecord, topic_record

log = logging.getLogger(__name__)


log = logging.getLogger(__name__)


MERGE_BUFFER = 500
"""Records ``tail`` holds per partition while it merges the partitions in time order."""


def _stopped(stop: asyncio.Event | None) -> bool:
    return stop is not None and stop.is_set()


class TimeMerge:
    """The records of several partitions merged by timestamp, a bounded buffer each.

    A record leaves once every partition still being read has a record buffered: each
    partition is read in offset order, so none can come up with an earlier record as long
    as its own timestamps do not go back (producers set them; where a partition's do go
    back, its records still come in offset order). The heap holds each non-empty
    buffer's first record.
    """

    def __init__(self, reading: Iterable[TopicPartition]) -> None:
        self.reading = set(reading)
        self.buffers: dict[TopicPartition, deque[TopicRecord]] = {
            tp: deque() for tp in self.reading
        }
        self._heads: list[tuple[int, str, int, int]] = []

    @property
    def done(self) -> bool:
        return not self.reading and not self._heads

    def hungry(self) -> list[TopicPartition]:
        """Partitions still being read whose buffer is empty: they hold the merge up."""
        return sorted(tp for tp in self.reading if not self.buffers[tp])

    def add(self, tp: TopicPartition, records: Sequence[TopicRecord]) -> None:
        buffer = self.buffers[tp]
        if records and not buffer:
            heapq.heappush(self._heads, _order(records[0]))
        buffer.extend(records)

    def finish(self, tp: TopicPartition) -> None:
        """``tp`` has reached its end (what is buffered still leaves in order)."""
        self.reading.discard(tp)

    def ready(self) -> Iterator[TopicRecord]:
        """The records that can leave now, in time order."""
        if self.hungry():
            return
        while self._heads:
            _, topic, partition, _ = heapq.heappop(self._heads)
            tp = TopicPartition(topic, partition)
            buffer = self.buffers[tp]
            yield buffer.popleft()
            if buffer:
                heapq.heappush(self._heads, _order(buffer[0]))
            elif tp in self.reading:
                return


def _order(record: TopicRecord) -> tuple[int, str, int, int]:
    return record.timestamp_ms, record.topic, record.partition, record.offset


async def merged_in_time(
    consumer: AIOKafkaConsumer,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[TopicRecord, None]:
    """From ``starts`` up to ``ends``, every partition merged in time order, reading
    only the partitions the merge waits on and at most ``MERGE_BUFFER`` records each."""
    consumer.assign(list(starts))
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    merge = TimeMerge(tp for tp in starts if starts[tp] < ends[tp])
    consumer.pause(*(set(starts) - merge.reading))
    empty_polls = 0
    while not merge.done and not _stopped(stop):
        for record in merge.ready():
            yield record
        hungry = merge.hungry()
        if not hungry:
            continue
        batch = await consumer.getmany(*hungry, timeout_ms=POLL_MS, max_records=MERGE_BUFFER)
        empty_polls = 0 if batch else empty_polls + 1
        for tp, records in batch.items():
            merge.add(tp, [topic_record(r) for r in records if r.offset < ends[tp]])
        for tp in hungry:
            if await consumer.position(tp) >= ends[tp]:
                merge.finish(tp)
                consumer.pause(tp)
        if empty_polls >= STALLED_POLLS:
            _give_up(merge, merge.hungry())
            empty_polls = 0


def _give_up(merge: TimeMerge, stalled: Sequence[TopicPartition]) -> None:
    log.warning(
        "gave up reading %s: no messages before their end offsets",
        ", ".join(f"{tp.topic} {tp.partition}" for tp in stalled),
    )
    for tp in stalled:
        merge.finish(tp)
