"""Bytes on a topic <-> validated models: CloudEvents in, CloudEvents out, dead letters."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas.envelope import CloudEvent, RawCloudEvent
from schemas.events import DeadLetter
from schemas.registry import MESSAGE_TYPES
from schemas.report import OutboxEntry
from services.domain.events import DomainEvent
from services.domain.ids import payload_hash


@dataclass(frozen=True)
class InboundMessage:
    """A Kafka record as the processor received it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Decoded:
    message: InboundMessage
    envelope: RawCloudEvent
    data: BaseModel
    payload_hash: str


@dataclass(frozen=True)
class Poison:
    """A message that cannot be applied; ``kind`` is parse, schema, unknown_type or conflict."""

    message: InboundMessage
    kind: str
    error: str
    message_id: str | None = None


def _errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "(message)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def decode(message: InboundMessage, allowed_types: frozenset[str]) -> Decoded | Poison:
    """Read the envelope tolerantly, then the data strictly against its type's model."""
    try:
        envelope = RawCloudEvent.model_validate_json(message.value)
    except ValidationError as exc:
        return _envelope_poison(message, exc)
    if envelope.type not in allowed_types:
        return Poison(
            message,
            "unknown_type",
            f"type {envelope.type!r} is not carried by {message.topic}",
            envelope.id,
        )
    try:
        data = MESSAGE_TYPES[envelope.type].model_validate(envelope.data)
    except ValidationError as exc:
        return Poison(message, "schema", f"{envelope.type}: {_errors(exc)}", envelope.id)
    return Decoded(message, envelope, data, payload_hash(envelope.type, data))


def _envelope_poison(message: InboundMessage, exc: ValidationError) -> Poison:
    """Tell bytes that are not JSON from JSON that is not a CloudEvent."""
    try:
        raw = json.loads(message.value)
    except (UnicodeDecodeError, json.JSONDecodeError) as parse_error:
        return Poison(message, "parse", f"not JSON: {parse_error}")
    message_id = raw.get("id") if isinstance(raw, dict) else None
    return Poison(message, "schema", f"not a CloudEvent: {_errors(exc)}", message_id)


def cloud_event_json(
    *, id_: str, type_: str, source: str, subject: str | None, time: datetime, data: BaseModel
) -> str:
    event: CloudEvent[dict[str, Any]] = CloudEvent(
        id=id_,
        source=source,
        type=type_,
        subject=subject,
        time=time,
        data=data.model_dump(mode="json"),
    )
    return event.model_dump_json()


def outbox_entry(event: DomainEvent, topic: str, source: str) -> OutboxEntry:
    """Serialize once, at commit time, so a republished event is byte-identical."""
    value = cloud_event_json(
        id_=event.id,
        type_=event.type,
        source=source,
        subject=event.subject,
        time=event.time,
        data=event.data,
    )
    return OutboxEntry(id=event.id, topic=topic, key=event.subject or event.id, value=value)


def dead_letter(poison: Poison, processor: str, now: datetime) -> tuple[bytes | None, bytes]:
    """Key and value of the dead-letter record; its id is the source coordinates."""
    message = poison.message
    data = DeadLetter(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key.decode(errors="replace") if message.key is not None else None,
        value=message.value.decode(errors="replace"),
        value_base64=base64.b64encode(message.value).decode(),
        error_kind=poison.kind,
        error=poison.error,
        processor=processor,
        message_id=poison.message_id,
    )
    value = cloud_event_json(
        id_=f"dead-letter/{message.topic}/{message.partition}/{message.offset}",
        type_="lmp.dead-letter",
        source=f"lmp-billing/{processor}",
        subject=poison.message_id,
        time=now,
        data=data,
    )
    return message.key, value.encode()
