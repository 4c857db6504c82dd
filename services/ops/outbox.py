"""Quarantined outbound events: listed, and published again byte for byte."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

from aiokafka import AIOKafkaProducer

from schemas.report import OutboxEntry
from services.adapters.cloudevents_binding import STRUCTURED_HEADERS
from services.adapters.failures import describe
from services.adapters.kafka_security import Brokers, client_kwargs
from services.adapters.store import StoreProtocol
from services.ops.render import json_line


async def list_quarantined(store: StoreProtocol, as_json: bool, out: TextIO) -> int:
    """Outbound events that could never be published: id, topic, reason."""
    entries = await store.quarantined()
    for entry, reason in entries:
        if as_json:
            print(json_line(_quarantine_row(entry, reason)), file=out)
        else:
            print(f"{entry.id}  {entry.topic}  {reason}", file=out)
    if not entries and not as_json:
        print("no quarantined events", file=out)
    return 0


def _quarantine_row(entry: OutboxEntry, reason: str) -> dict[str, Any]:
    return {
        "id": entry.id,
        "topic": entry.topic,
        "key": entry.key,
        "value_size": len(entry.value.encode()),
        "reason": reason,
    }


async def retry_quarantined(
    store: StoreProtocol, bootstrap: Brokers, ids: Sequence[str], out: TextIO, err: TextIO
) -> int:
    """Publish quarantined events again (all, or those of ``ids``), byte for byte, to
    their topic with their key; each one acknowledged leaves the quarantine, each one
    that fails again stays with the new reason (exit status 1)."""
    entries = await store.quarantined()
    chosen = _chosen_entries(entries, ids, err)
    if chosen is None:
        return 1
    if not chosen:
        print("no quarantined events", file=out)
        return 0
    producer = AIOKafkaProducer(**client_kwargs(bootstrap), acks="all", enable_idempotence=True)
    try:
        await producer.start()
        failed = [e for e in chosen if not await _retry_one(store, producer, e, out, err)]
    finally:
        await producer.stop()
    return 1 if failed else 0


def _chosen_entries(
    entries: Sequence[tuple[OutboxEntry, str]], ids: Sequence[str], err: TextIO
) -> list[OutboxEntry] | None:
    by_id = {entry.id: entry for entry, _ in entries}
    unknown = [i for i in dict.fromkeys(ids) if i not in by_id]
    for event_id in unknown:
        print(f"no quarantined event {event_id!r}", file=err)
    if unknown:
        return None
    return [by_id[i] for i in dict.fromkeys(ids)] if ids else list(by_id.values())


async def _retry_one(
    store: StoreProtocol, producer: AIOKafkaProducer, entry: OutboxEntry, out: TextIO, err: TextIO
) -> bool:
    try:
        sent = await producer.send_and_wait(
            entry.topic, entry.value.encode(), key=entry.key.encode(), headers=[*STRUCTURED_HEADERS]
        )
    except Exception as exc:
        reason = describe(exc)
        await store.quarantine_events([(entry, reason)])
        print(f"event {entry.id} still cannot be published to {entry.topic}: {reason}", file=err)
        return False
    await store.release_quarantined([entry.id])
    print(f"published event {entry.id} to {entry.topic} {sent.partition}:{sent.offset}", file=out)
    return True
