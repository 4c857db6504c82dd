"""What a fault scenario checks and prints: every message accounted for, no answer twice.

Counts are read back from the topics and the database, never from the processors'
own logs or counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from dataclasses import dataclass, fields
from typing import Any

from aiokafka.errors import KafkaError

from tests.harness import System, eventually

LINES: list[str] = []
"""Every counts line shown this run, for the terminal summary."""

OUTBOUND = (
    "lmp.report-events.v1",
    "lmp.trendmicro-submissions.v1",
    "lmp.penalties.v1",
    "lmp.dead-letter.v1",
)


@dataclass
class Counts:
    sent: int = 0
    applied: int = 0
    refused: int = 0
    dead_lettered: int = 0
    lost: int = 0
    contradictory: int = 0
    duplicate_id_different_payload: int = 0

    def show(self, scenario: str, **extra: object) -> str:
        parts = [f"{f.name}={getattr(self, f.name)}" for f in fields(self)]
        parts += [f"{k}={v}" for k, v in extra.items()]
        line = f"[faults] {scenario}: " + " ".join(parts)
        print(line)
        LINES.append(line)
        return line

    def assert_sound(self) -> None:
        assert self.lost == 0, self
        assert self.contradictory == 0, self
        assert self.duplicate_id_different_payload == 0, self


async def payloads_by_id(
    system: System, topics: tuple[str, ...] = OUTBOUND
) -> dict[str, set[bytes]]:
    """Every outbound event id with the distinct payloads published under it."""
    seen: dict[str, set[bytes]] = defaultdict(set)
    for topic in topics:
        for record in await system.read_all(topic, timeout=10.0):
            if record["value"] is not None:
                seen[record["value"]["id"]].add(record["raw"])
    return dict(seen)


def ids_with_two_payloads(payloads: dict[str, set[bytes]]) -> list[str]:
    return sorted(event_id for event_id, values in payloads.items() if len(values) > 1)


async def dead_letters(system: System) -> list[dict[str, Any]]:
    """The data of every dead letter published so far."""
    records = await system.read_all("lmp.dead-letter.v1", timeout=10.0)
    return [r["value"]["data"] for r in records if r["value"] is not None]


async def outboxes_left(system: System) -> int:
    return int(await system.store.reports.count_documents({"outbox.0": {"$exists": True}}))


def decoded(raw: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(raw)
    return value


class GroupProgress:
    """How far a processor's consumer group has committed on a topic, read from the broker.

    The offsets a group committed are what it will never be given again: a processor
    "consumes" when they move, whatever its own logs say.
    """

    def __init__(self, system: System, processor: str) -> None:
        self.system = system
        self.group = f"{system.namespace.rstrip('.')}-{processor}"
        self._admin: Any = None
        self._consumer: Any = None

    async def _clients(self) -> tuple[Any, Any]:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.system.servers.bootstrap_servers)
            await admin.start()
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.system.servers.bootstrap_servers, enable_auto_commit=False
            )
            await consumer.start()
            self._consumer = consumer
        return self._admin, self._consumer

    async def committed(self, contract_topic: str) -> int:
        """Sum of the group's committed offsets on the topic (0 where none)."""
        admin, _ = await self._clients()
        topic = self.system.topic(contract_topic)
        offsets = await admin.list_consumer_group_offsets(self.group)
        return sum(m.offset for tp, m in offsets.items() if tp.topic == topic and m.offset > 0)

    async def end(self, contract_topic: str) -> int:
        """Sum of the topic's end offsets: every record ever written to it."""
        from aiokafka import TopicPartition

        _, consumer = await self._clients()
        topic = self.system.topic(contract_topic)
        tps = [TopicPartition(topic, p) for p in range(self.system.catalogue[topic].partitions)]
        ends = await consumer.end_offsets(tps)
        return int(sum(ends.values()))

    async def lag(self, contract_topic: str) -> int:
        return await self.end(contract_topic) - await self.committed(contract_topic)

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()
        if self._consumer is not None:
            await self._consumer.stop()
        self._admin = self._consumer = None


async def stop_tasks(*tasks: asyncio.Task[Any]) -> None:
    """Cancel what a scenario left running (after a failure) and wait for it to end."""
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def settled(system: System) -> None:
    """Every usage message committed by its group and no outbox left: the end of a stream.
    The broker may answer an admin request with an error while it recovers; asked again."""
    progress = GroupProgress(system, "usage")
    try:

        async def consumed() -> bool:
            try:
                return await progress.lag("lmp.usage.v1") == 0
            except KafkaError:
                return False

        await eventually(consumed, timeout=120, interval=0.5)
    finally:
        await progress.close()

    async def nothing_left() -> bool:
        return await outboxes_left(system) == 0

    await eventually(nothing_left, timeout=60)
