"""The bulk consumer's loop against a scripted consumer: what a rebalance does to a batch.

A batch fetched while a rebalance happened is dropped unapplied (its partitions may have
gone to another instance). Part of it may have been fetched after the rebalance, from
the positions the new assignment started at: the loop must go back to the committed
offsets, or those records are skipped until the next rebalance, and lost once a later
batch commits past them (the two-instances fault scenario stalled on one such record).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition

from services.adapters.codec import InboundMessage
from services.runtime.bulk_consumer import BulkConsumer, _FinishBeforeRevoke
from services.settings import Settings

pytestmark = pytest.mark.unit

TP = TopicPartition("lmp.partner-actions.v1", 0)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp: int = 1
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class ScriptedConsumer:
    """One partition of records; the first fetch happens across a rebalance."""

    records: list[Record]
    committed_offset: int | None
    listener: _FinishBeforeRevoke | None = None
    position: int = 0
    rebalance_on_first_fetch: bool = True
    commits: list[int] = field(default_factory=list)

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def getmany(self, timeout_ms: int = 0, max_records: int = 0) -> dict[Any, list[Any]]:
        if self.rebalance_on_first_fetch:
            # The group rebalances while this fetch waits; the new assignment starts at
            # the committed offset and the fetch returns what it then read.
            self.rebalance_on_first_fetch = False
            assert self.listener is not None
            await self.listener.on_partitions_revoked([])
            self.position = self.committed_offset or 0
        fetched = self.records[self.position : self.position + max_records]
        if not fetched:
            await asyncio.sleep(min(timeout_ms, 10) / 1000)
            return {}
        self.position += len(fetched)
        return {TP: fetched}

    async def committed(self, tp: TopicPartition) -> int | None:
        assert tp == TP
        return self.committed_offset

    def seek(self, tp: TopicPartition, offset: int) -> None:
        assert tp == TP
        self.position = offset

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        assert tps == (TP,)
        self.position = 0

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed_offset = offsets[TP]
        self.commits.append(offsets[TP])


@dataclass
class Applied:
    offsets: list[int] = field(default_factory=list)

    async def run(self, batch: Sequence[InboundMessage]) -> None:
        self.offsets += [m.offset for m in batch]

    def prepare(self, batch: Sequence[InboundMessage]) -> None:
        pass


def records(n: int) -> list[Record]:
    return [Record(TP.topic, 0, i, b"k", b"{}") for i in range(n)]


def bulk_consumer(window: float, hold: bool = False) -> BulkConsumer:
    return BulkConsumer(
        settings=Settings(),
        group_id="g",
        topics=[TP.topic],
        runner=lambda: None,
        window_seconds=window,
        hold_fetches=hold,
    )


async def consume_until(
    bulk: BulkConsumer, consumer: Any, runner: Any, done: Callable[[], bool]
) -> None:
    """The consumer loop, run until ``done()`` holds (two seconds at most), then stopped."""
    loop = asyncio.create_task(bulk._consume(consumer, runner))
    try:
        for _ in range(200):
            if done():
                break
            await asyncio.sleep(0.01)
    finally:
        bulk._stopping = True
        await asyncio.wait_for(loop, timeout=2)


@pytest.mark.parametrize("committed", [None, 0, 2])
async def test_a_batch_fetched_across_a_rebalance_is_fetched_again_from_the_committed_offset(
    committed: int | None,
) -> None:
    consumer = ScriptedConsumer(records(5), committed)
    bulk = bulk_consumer(window=0.05)
    consumer.listener = _FinishBeforeRevoke(bulk)
    applied = Applied()
    await consume_until(bulk, consumer, applied, lambda: consumer.committed_offset == 5)
    start = committed or 0
    assert applied.offsets == list(range(start, 5)), "each record after the commit, once"
    assert consumer.committed_offset == 5
    assert bulk.rebalances == 1


@pytest.mark.parametrize(
    ("hold", "window", "options"),
    [
        (True, 0.02, {"fetch_min_bytes": 64 * 1024, "fetch_max_wait_ms": 10}),
        (True, 0.001, {"fetch_min_bytes": 64 * 1024, "fetch_max_wait_ms": 1}),
        (False, 1.0, {}),
    ],
)
def test_only_held_fetches_wait_at_the_broker_and_for_half_the_window_at_most(
    hold: bool, window: float, options: dict[str, int]
) -> None:
    """The action processors' fetches wait for bytes (fewer fetches per action); the bulk
    processors' keep aiokafka's defaults, so a backlog's tail is not held 500 ms."""
    assert bulk_consumer(window, hold)._fetch_options() == options


@dataclass
class ArrivingConsumer:
    """Records that reach the partition at given times after the start."""

    arrivals: list[tuple[float, Record]]
    position: int = 0
    start: float = field(default_factory=lambda: asyncio.get_running_loop().time())
    commits: list[int] = field(default_factory=list)

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def _arrived(self) -> list[Record]:
        now = asyncio.get_running_loop().time() - self.start
        return [r for at, r in self.arrivals if at <= now][self.position :]

    async def getmany(self, timeout_ms: int = 0, max_records: int = 0) -> dict[Any, list[Any]]:
        if not self._arrived():  # wait for the next record, or the timeout
            now = asyncio.get_running_loop().time() - self.start
            later = [at - now for at, _ in self.arrivals[self.position :]]
            await asyncio.sleep(min([*later, timeout_ms / 1000]))
        fetched = self._arrived()[:max_records]
        self.position += len(fetched)
        return {TP: fetched} if fetched else {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets[TP])


@dataclass
class SlowFirstBatch:
    batches: list[list[int]] = field(default_factory=list)

    async def run(self, batch: Sequence[InboundMessage]) -> None:
        self.batches.append([m.offset for m in batch])
        if len(self.batches) == 1:
            await asyncio.sleep(0.2)  # a stall: the records below arrive meanwhile

    def prepare(self, batch: Sequence[InboundMessage]) -> None:
        pass


async def test_what_arrives_while_a_batch_is_applied_is_all_in_the_next_batch() -> None:
    """The batch gathered ahead keeps taking records until the one in flight is done:
    one arrived within its window and three after it, during a stall; all four are the
    next batch, none waits a whole batch longer."""
    rs = records(5)
    times = [0.0, 0.045, 0.1, 0.12, 0.14]  # window 0-30 ms; the next, 30-60 ms; the stall to 230
    consumer = ArrivingConsumer([(at, r) for at, r in zip(times, rs, strict=True)])
    applied = SlowFirstBatch()
    await consume_until(
        bulk_consumer(window=0.03), consumer, applied, lambda: consumer.commits[-1:] == [5]
    )
    assert applied.batches == [[0], [1, 2, 3, 4]]
    assert consumer.commits == [1, 5]
