"""Publishing to Kafka: awaited delivery, the outbox relay and the dead-letter topic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from schemas.report import Report
from services.adapters.catalogue import Catalogue
from services.adapters.codec import Poison, dead_letter, outbox_entry
from services.adapters.store import Store
from services.domain.events import DomainEvent

log = logging.getLogger(__name__)

DEAD_LETTER_TOPIC = "lmp.dead-letter.v1"

Record = tuple[str, bytes | None, bytes]
"""(topic, key, value)"""


class Producer(Protocol):
    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> Any: ...


class AiokafkaProducer:
    """A plain aiokafka producer behind the faust ``send`` signature (tools, tests)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> Any:
        return await self._producer.send(topic, value=value, key=key, partition=partition)


class Publisher:
    """Sends records and waits until the broker acknowledged every one of them."""

    def __init__(self, producer: Callable[[], Producer]) -> None:
        self._producer = producer

    async def publish(self, records: Sequence[Record]) -> None:
        producer = self._producer()
        pending = [
            await producer.send(topic, key, value, None, None, None)
            for topic, key, value in records
        ]
        if pending:
            await asyncio.gather(*pending)


class Outbox:
    """Turns domain events into outbox entries and drains committed outboxes to Kafka."""

    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        catalogue: Catalogue,
        source: str,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._catalogue = catalogue
        self._source = source

    def stage(self, report: Report, events: Sequence[DomainEvent], now: datetime) -> Report:
        """The report with ``events`` appended to its outbox, ready to be written."""
        if not events:
            return report
        entries = [
            outbox_entry(event, self._catalogue.topic_for_type(event.type), self._source)
            for event in events
        ]
        return report.model_copy(
            update={
                "outbox": [*report.outbox, *entries],
                "outbox_since": report.outbox_since or now,
            }
        )

    async def drain(self, reports: Sequence[Report]) -> int:
        """Publish the committed outbox of each report, then clear it (at least once)."""
        with_events = [r for r in reports if r.outbox]
        records: list[Record] = [
            (entry.topic, entry.key.encode(), entry.value.encode())
            for report in with_events
            for entry in report.outbox
        ]
        await self._publisher.publish(records)
        await self._store.clear_outboxes([(r.id, r.version) for r in with_events])
        return len(records)

    async def sweep(self, now: datetime, grace: timedelta, limit: int = 500) -> int:
        """Drain outboxes left behind by a crash between a write and its publish."""
        reports = await self._store.reports_with_outbox(now - grace, limit)
        return await self.drain(reports)

    async def publish_events(self, events: Sequence[DomainEvent]) -> None:
        """Publish events that belong to no committed report change (refusals)."""
        entries = [
            outbox_entry(e, self._catalogue.topic_for_type(e.type), self._source) for e in events
        ]
        await self._publisher.publish(
            [(e.topic, e.key.encode() if e.key else None, e.value.encode()) for e in entries]
        )

    async def dead_letter(self, poisons: Sequence[Poison], processor: str, now: datetime) -> None:
        for poison in poisons:
            log.warning(
                "dead-lettering %s[%d]@%d (%s): %s",
                poison.message.topic,
                poison.message.partition,
                poison.message.offset,
                poison.kind,
                poison.error,
            )
        topic = self._catalogue.physical(DEAD_LETTER_TOPIC)
        await self._publisher.publish([(topic, *dead_letter(p, processor, now)) for p in poisons])
