"""Publishing to Kafka: awaited delivery, the outbox relay and the dead-letter topic.

Every record is sent and its acknowledgement awaited one by one, so one record that can
never be published (too large, not authorized) is told apart from the rest: an outbound
event goes to the quarantine collection (``lmp-billing outbox list|retry``), a dead
letter falls back to a minimal one, and everything else goes on. Transient failures
raise, and the caller retries the whole step (publishing again is harmless: the bytes
of an event id never change).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from schemas.report import OutboxEntry, Report
from services.adapters.catalogue import Catalogue
from services.adapters.cloudevents_binding import STRUCTURED_HEADERS
from services.adapters.codec import Poison, outbox_entry
from services.adapters.dead_letters import dead_letter, minimal_dead_letter
from services.adapters.failures import describe, is_transient
from services.adapters.store import StoreProtocol
from services.domain.events import DomainEvent

log = logging.getLogger(__name__)

DEAD_LETTER_TOPIC = "lmp.dead-letter.v1"

Record = tuple[str, bytes | None, bytes]
"""(topic, key, value): a CloudEvent in structured mode, sent with ``STRUCTURED_HEADERS``"""


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
        timestamp: float | None,  # noqa: ARG002 - faust's send signature; aiokafka stamps it
        headers: Any,
    ) -> Any:
        return await self._producer.send(
            topic, value=value, key=key, partition=partition, headers=headers
        )


class Publisher:
    """Sends records and waits until the broker acknowledged each of them."""

    def __init__(self, producer: Callable[[], Producer]) -> None:
        self._producer = producer

    async def publish(self, records: Sequence[Record]) -> None:
        """All or an exception (the first failure)."""
        for failure in await self.try_publish(records):
            if failure is not None:
                raise failure

    async def try_publish(self, records: Sequence[Record]) -> list[BaseException | None]:
        """One outcome per record: None when acknowledged, else what went wrong."""
        producer = self._producer()
        outcomes: list[BaseException | None] = [None] * len(records)
        pending: list[tuple[int, Any]] = []
        for i, (topic, key, value) in enumerate(records):
            try:
                # A list: aiokafka's compiled record builder refuses any other sequence.
                headers = list(STRUCTURED_HEADERS)
                sent = await producer.send(topic, key, value, None, None, headers)
                pending.append((i, sent))
            except Exception as exc:
                outcomes[i] = exc
        if pending:
            acks = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
            for (i, _), ack in zip(pending, acks, strict=True):
                if isinstance(ack, BaseException):
                    if not isinstance(ack, Exception):
                        raise ack
                    outcomes[i] = ack
        return outcomes


class Outbox:
    """Serializes decided events, relays committed outboxes, and writes dead letters."""

    def __init__(
        self,
        store: StoreProtocol,
        publisher: Publisher,
        catalogue: Catalogue,
        source: str,
        dead_letter_max_bytes: int,
        clear_after_seconds: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._catalogue = catalogue
        self._source = source
        self._dead_letter_max_bytes = dead_letter_max_bytes
        self._clear_after = clear_after_seconds
        self._monotonic = monotonic
        self._published: dict[str, tuple[str, int, float]] = {}
        """Reports whose committed outbox this process published and has not cleared:
        its digest, the version it was committed at, and when it was published."""

    def entries(self, events: Sequence[DomainEvent]) -> list[OutboxEntry]:
        """Each event as the bytes that will be published for its id, forever."""
        return [
            outbox_entry(event, self._catalogue.topic_for_type(event.type), self._source)
            for event in events
        ]

    def stage(self, report: Report, entries: Sequence[OutboxEntry], now: datetime) -> Report:
        """The report with ``entries`` appended to its outbox, ready to be written."""
        if not entries:
            return report
        return report.model_copy(
            update={
                "outbox": [*report.outbox, *entries],
                "outbox_since": report.outbox_since or now,
            }
        )

    async def send(self, entries: Sequence[OutboxEntry]) -> None:
        """Publish recorded events; one that can never be published is quarantined.

        Raises on a transient failure (the caller retries; what was sent is sent again,
        byte for byte).
        """
        records: list[Record] = [(e.topic, e.key.encode(), e.value.encode()) for e in entries]
        outcomes = await self._publisher.try_publish(records)
        transient = [exc for exc in outcomes if exc is not None and is_transient(exc)]
        if transient:
            raise transient[0]
        quarantined = [
            (entry, describe(exc))
            for entry, exc in zip(entries, outcomes, strict=True)
            if exc is not None
        ]
        if quarantined:
            for entry, reason in quarantined:
                log.error("quarantined event %s for %s: %s", entry.id, entry.topic, reason)
            await self._store.quarantine_events(quarantined)

    async def published_among(self, reports: Iterable[Report]) -> set[str]:
        """The reports whose committed outbox is known to be published: by this process
        (remembered), or by another (its marker in the store, read only for these)."""
        known: set[str] = set()
        ask: dict[str, str] = {}
        for report in reports:
            if not report.outbox:
                continue
            digest = outbox_digest(report.outbox)
            remembered = self._published.get(report.id)
            if remembered is not None and remembered[0] == digest:
                known.add(report.id)
            else:
                ask[report.id] = digest
        if ask:
            marks = await self._store.published_marks(ask)
            known |= {rid for rid, digest in ask.items() if marks.get(rid) == digest}
        return known

    async def drain(self, reports: Sequence[Report], defer_clear: bool = False) -> int:
        """Publish the committed outbox of each report, then clear it (at least once).

        With ``defer_clear`` the clear waits ``clear_after_seconds``: a marker outside
        the report says what was published, so the report's next write, if it comes
        sooner, drops those entries itself (``without_published``), by whichever process;
        ``clear_published`` clears the others. One write of the document per change
        instead of two: the clear was a third of the database's work per action.
        """
        with_events = [r for r in reports if r.outbox]
        await self.send([entry for report in with_events for entry in report.outbox])
        if not (defer_clear and self._clear_after > 0):
            await self._store.clear_outboxes([(r.id, r.version) for r in with_events])
            return sum(len(r.outbox) for r in with_events)
        marks = [(r.id, outbox_digest(r.outbox)) for r in with_events]
        await self._store.mark_published(marks)
        at = self._monotonic()
        for report in reports:
            self._published.pop(report.id, None)
        for report, (_, digest) in zip(with_events, marks, strict=True):
            self._published[report.id] = (digest, report.version, at)
        return sum(len(r.outbox) for r in with_events)

    async def clear_published(self, everything: bool = False) -> int:
        """Clear the published outboxes no later write dropped within ``clear_after_seconds``
        (``everything``: all of them, at a stop). A report that moved on keeps its outbox."""
        due_before = self._monotonic() - self._clear_after
        due = {
            rid: version
            for rid, (_, version, at) in self._published.items()
            if everything or at <= due_before
        }
        if not due:
            return 0
        await self._store.clear_outboxes(sorted(due.items()))
        for rid, version in due.items():
            remembered = self._published.get(rid)
            if remembered is not None and remembered[1] == version:
                del self._published[rid]
        return len(due)

    async def clear_at_stop(self) -> None:
        """Every published outbox cleared now, so no other processor's sweep publishes it
        again; a database away at the stop only costs those copies, so it is logged."""
        try:
            await self.clear_published(everything=True)
        except Exception as exc:
            log.warning(
                "published outboxes not cleared at the stop (a sweep publishes them again): %r",
                exc,
            )

    async def sweep(self, now: datetime, grace: timedelta, limit: int = 500) -> int:
        """Drain outboxes left behind by a crash between a write and its publish (or
        published, by their markers, and not cleared yet: those are only cleared)."""
        reports = await self._store.reports_with_outbox(now - grace, limit)
        published = await self.published_among(reports)
        await self._store.clear_outboxes([(r.id, r.version) for r in reports if r.id in published])
        return await self.drain([r for r in reports if r.id not in published])

    async def dead_letter(self, poisons: Sequence[Poison], processor: str) -> int:
        """Publish a dead letter per poison; returns how many could not be published at all.

        A full dead letter that can never be published is replaced by a minimal one
        (origin and reason, its own id); if even that fails permanently the failure is
        logged and counted, and the partition moves on.
        """
        if not poisons:
            return 0
        for poison in poisons:
            log.warning(
                "dead-lettering %s[%d]@%d (%s): %s",
                poison.message.topic,
                poison.message.partition,
                poison.message.offset,
                poison.kind,
                poison.error[:300],
            )
        topic = self._catalogue.physical(DEAD_LETTER_TOPIC)
        full = [(topic, *dead_letter(p, processor, self._dead_letter_max_bytes)) for p in poisons]
        failed = await self._permanent_failures(full)
        if not failed:
            return 0
        minimal = [(topic, *minimal_dead_letter(poisons[i], processor)) for i in failed]
        lost = await self._permanent_failures(minimal)
        for i in lost:
            message = poisons[failed[i]].message
            log.error(
                "no dead letter could be published for %s[%d]@%d; moving on",
                message.topic,
                message.partition,
                message.offset,
            )
        return len(lost)

    async def _permanent_failures(self, records: Sequence[Record]) -> list[int]:
        outcomes = await self._publisher.try_publish(records)
        for exc in outcomes:
            if exc is not None and is_transient(exc):
                raise exc
        return [i for i, exc in enumerate(outcomes) if exc is not None]


def outbox_digest(entries: Sequence[OutboxEntry]) -> str:
    """What names an outbox: its event ids, each of which names one payload forever, so
    "these ids were published" holds of any report that holds exactly them."""
    return hashlib.sha256("\n".join(e.id for e in entries).encode()).hexdigest()


def without_published(stored: Report, report: Report, now: datetime) -> Report:
    """``report`` to be written over ``stored``, whose outbox is published: without those
    entries (the write clears them), with what it adds staged from ``now``."""
    kept = len(stored.outbox)
    if [e.id for e in report.outbox[:kept]] != [e.id for e in stored.outbox]:
        return report  # not staged on top of the stored outbox: left as it is
    rest = report.outbox[kept:]
    return report.model_copy(update={"outbox": rest, "outbox_since": now if rest else None})
