"""``publish``: CloudEvents from a file or stdin onto an inbound topic, checked first.

Every line is decoded as the processors decode a record of the topic (``codec.decode``),
so what is refused here is what they would dead-letter. The whole input is checked
before anything is sent: one refused line and nothing is published. Each event goes
with the key topics.yaml names for the topic (``record_keys``), as a structured-mode
CloudEvent, from an idempotent producer waiting for every in-sync replica.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from aiokafka import AIOKafkaProducer

from services.adapters.catalogue import Catalogue
from services.adapters.codec import Decoded, InboundMessage, Poison, decode
from services.adapters.failures import describe
from services.adapters.kafka_security import Brokers, client_kwargs
from services.adapters.record_keys import record_key
from services.ops.reading import OpsError, live_topic_partitions, resolve_topics
from services.ops.render import json_line

CONTENT_TYPE = ("content-type", b"application/cloudevents+json; charset=utf-8")
"""The header of a structured-mode CloudEvent record (CloudEvents Kafka binding)."""


class InvalidInput(Exception):
    """Input the user can correct: an unknown or outbound topic, refused lines."""


@dataclass(frozen=True)
class Outgoing:
    """One checked event: where it came from, its key and its bytes as given."""

    line: int
    key: str
    value: bytes
    id: str
    type: str


@dataclass(frozen=True)
class Refusal:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def inbound_topic(catalogue: Catalogue, name: str) -> str:
    """The physical name of inbound topic ``name`` (contract or physical name)."""
    try:
        [topic] = resolve_topics(catalogue, [name])
    except OpsError as exc:
        raise InvalidInput(str(exc)) from None
    if catalogue[topic].direction != "in":
        inbound = ", ".join(
            catalogue.contract_name(name)
            for name, spec in catalogue.topics.items()
            if spec.direction == "in"
        )
        raise InvalidInput(
            f"{name} is an outbound topic (the processors publish there); "
            f"publish to an inbound one: {inbound}"
        )
    return topic


def check_events(
    catalogue: Catalogue, topic: str, lines: Iterable[bytes]
) -> tuple[list[Outgoing], list[Refusal]]:
    """Each non-blank line decoded as a record of ``topic``: the events, the refusals."""
    spec = catalogue[topic]
    types = frozenset(spec.types)
    events: list[Outgoing] = []
    refusals: list[Refusal] = []
    for number, raw in enumerate(lines, 1):
        value = raw.strip()
        if not value:
            continue
        if len(value) > spec.max_message_bytes:
            refusals.append(
                Refusal(
                    number,
                    f"{len(value)} bytes, more than the topic's max.message.bytes "
                    f"({spec.max_message_bytes})",
                )
            )
            continue
        result = decode(
            InboundMessage(topic=topic, partition=0, offset=number, key=None, value=value),
            types,
            compacted=spec.cleanup_policy == "compact",
        )
        if isinstance(result, Poison):
            refusals.append(Refusal(number, _reason(result, catalogue)))
        elif isinstance(result, Decoded):
            key = record_key(result.data)
            events.append(Outgoing(number, key, value, result.envelope.id, result.envelope.type))
    return events, refusals


def _reason(poison: Poison, catalogue: Catalogue) -> str:
    reason = f"{poison.kind}: {poison.error}"
    if poison.kind == "unknown_type" and poison.message.value is not None:
        carried = _carrier(catalogue, poison.message.value)
        if carried:
            reason += f" (it goes to {catalogue.contract_name(carried)})"
    return reason


def _carrier(catalogue: Catalogue, value: bytes) -> str | None:
    from schemas.envelope import RawCloudEvent

    try:
        return catalogue.topic_for_type(RawCloudEvent.model_validate_json(value).type)
    except (KeyError, ValueError):
        return None


def sent_row(topic: str, partition: int, offset: int, event: Outgoing) -> dict[str, Any]:
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "id": event.id,
        "type": event.type,
        "key": event.key,
        "line": event.line,
    }


async def publish_events(
    brokers: Brokers,
    topic: str,
    events: Sequence[Outgoing],
    as_json: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    """Send ``events`` in order and print where each went; 1 when one was not acknowledged."""
    await live_topic_partitions(brokers, [topic])  # never let the broker auto-create it
    producer = AIOKafkaProducer(**client_kwargs(brokers), acks="all", enable_idempotence=True)
    failed = 0
    await producer.start()
    try:
        pending = []
        for event in events:
            try:
                pending.append(
                    (
                        event,
                        await producer.send(
                            topic, event.value, key=event.key.encode(), headers=[CONTENT_TYPE]
                        ),
                    )
                )
            except Exception as exc:
                print(f"line {event.line}: not published: {describe(exc)}", file=err)
                failed += 1
        for event, future in pending:
            try:
                sent = await future
            except Exception as exc:
                print(f"line {event.line}: not published: {describe(exc)}", file=err)
                failed += 1
                continue
            row = sent_row(sent.topic, sent.partition, sent.offset, event)
            text = " ".join(str(row[k]) for k in ("topic", "partition", "offset", "id", "type"))
            print(json_line(row) if as_json else text, file=out, flush=True)
    finally:
        await producer.stop()
    return 1 if failed else 0
