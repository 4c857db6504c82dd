"""Bytes on a topic <-> validated models: CloudEvents in, CloudEvents out, dead letters.

``decode`` accepts any record at all — null value or key, any bytes, any JSON — and
answers with a decoded message, a tombstone (on a compacted topic) or a poison with a
reason; it never raises. Dead letters are a pure function of the record and the
reason, so a record dead-lettered twice yields the same event id and the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.envelope import CloudEvent, RawCloudEvent
from schemas.events import DeadLetter
from schemas.registry import MESSAGE_TYPES
from schemas.report import OutboxEntry
from services.adapters.catalogue import Catalogue
from services.domain.events import DomainEvent
from services.domain.ids import payload_hash

DEAD_LETTER_TYPE = "lmp.dead-letter"
KEY_CAP = 1024
"""Keys longer than this are not copied into a dead letter (its pointer finds them)."""
ERROR_CAP = 2000
MESSAGE_ID_CAP = 300


@dataclass(slots=True)
class InboundMessage:
    """A Kafka record as the processor received it.

    ``decoded`` holds the record's decoding once done ahead (see ``decode_ahead``): the
    bulk consumer decodes the next batch while the database works on the current one.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int = 0
    decoded: Decoded | Tombstone | Poison | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Decoded:
    message: InboundMessage
    envelope: RawCloudEvent
    data: BaseModel
    payload_hash: str


@dataclass(frozen=True)
class Tombstone:
    """A null value on a compacted topic: its key's entity is withdrawn."""

    message: InboundMessage

    @property
    def key(self) -> str | None:
        key = self.message.key
        if key is None:
            return None
        try:
            return key.decode()
        except UnicodeDecodeError:
            return None


@dataclass(frozen=True)
class Poison:
    """A message that cannot be applied; ``kind`` names why (see ``DeadLetter.error_kind``)."""

    message: InboundMessage
    kind: str
    error: str
    message_id: str | None = None


class _IdProbe(BaseModel):
    """Reads just the envelope's ``id`` of a message that failed its envelope."""

    model_config = ConfigDict(extra="ignore")

    id: Any = None


def _errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "(message)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def decode(
    message: InboundMessage, allowed_types: frozenset[str], *, compacted: bool = False
) -> Decoded | Tombstone | Poison:
    """Read the envelope tolerantly, then the data strictly against its type's model."""
    if message.value is None:
        tombstone = Tombstone(message)
        if compacted and tombstone.key:
            return tombstone
        why = (
            "a tombstone needs a UTF-8 key naming what it withdraws"
            if compacted
            else f"{message.topic} is not compacted"
        )
        return Poison(message, "tombstone", f"null value (tombstone): {why}")
    try:
        envelope = RawCloudEvent.model_validate_json(message.value)
    except ValidationError as exc:
        return _envelope_poison(message, message.value, exc)
    if envelope.time is None and message.timestamp_ms > 0:
        # CloudEvents' ``time`` is optional: without it, the event happened when the
        # record was written (its Kafka timestamp); a record without one leaves it None.
        envelope.time = record_time(message)
    if envelope.type not in allowed_types:
        return Poison(
            message,
            "unknown_type",
            f"type {envelope.type[:200]!r} is not carried by {message.topic}",
            envelope.id,
        )
    try:
        data = MESSAGE_TYPES[envelope.type].model_validate(envelope.data)
    except ValidationError as exc:
        return Poison(message, "schema", f"{envelope.type}: {_errors(exc)}", envelope.id)
    return Decoded(message, envelope, data, payload_hash(envelope.type, data))


def _envelope_poison(message: InboundMessage, value: bytes, exc: ValidationError) -> Poison:
    """Tell bytes that are not JSON from JSON that is not a CloudEvent."""
    if any(err["type"] == "json_invalid" for err in exc.errors()):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Poison(message, "parse", f"not UTF-8: {bad.reason} at byte {bad.start}")
        return Poison(message, "parse", f"not JSON: {_errors(exc)}")
    try:
        raw_id = _IdProbe.model_validate_json(value).id
    except ValidationError:
        raw_id = None
    message_id = raw_id[:MESSAGE_ID_CAP] if isinstance(raw_id, str) and raw_id else None
    return Poison(message, "schema", f"not a CloudEvent: {_errors(exc)}", message_id)


def decode_on(message: InboundMessage, catalogue: Catalogue) -> Decoded | Tombstone | Poison:
    """``decode`` with what the topic's catalogue entry says it carries (done once)."""
    if message.decoded is None:
        spec = catalogue[message.topic]
        result = decode(message, frozenset(spec.types), compacted=spec.cleanup_policy == "compact")
        if isinstance(result, Decoded):
            # The envelope's raw data is now the validated ``data``: a batch in memory
            # should not hold both (half of a usage message's footprint).
            result.envelope.data.clear()
        message.decoded = result
    return message.decoded


def decode_ahead(batch: Sequence[InboundMessage], catalogue: Catalogue) -> None:
    """Decode a batch before it is handled (CPU that can overlap the previous batch's I/O)."""
    for message in batch:
        decode_on(message, catalogue)


# outbound -------------------------------------------------------------------


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
    """Serialize once, at decision time: every later publication sends these bytes."""
    value = cloud_event_json(
        id_=event.id,
        type_=event.type,
        source=source,
        subject=event.subject,
        time=event.time,
        data=event.data,
    )
    return OutboxEntry(id=event.id, topic=topic, key=event.subject or event.id, value=value)


# dead letters ---------------------------------------------------------------


def dead_letter_id(poison: Poison) -> str:
    """The record's coordinates and why: the same record refused for the same reason is
    the same dead letter; a ``processing_error`` (an exception's text, which may differ
    from one delivery to the next) also names a digest of its reason."""
    message = poison.message
    ident = f"dead-letter/{message.topic}/{message.partition}/{message.offset}/{poison.kind}"
    if poison.kind == "processing_error":
        ident += "/" + hashlib.sha256(poison.error.encode()).hexdigest()[:12]
    return ident


def record_time(message: InboundMessage) -> datetime:
    """The record's own timestamp (milliseconds): what makes a dead letter reproducible."""
    try:
        return datetime.fromtimestamp(max(message.timestamp_ms, 0) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.fromtimestamp(0, UTC)


def _text_or_base64(raw: bytes) -> tuple[str | None, str | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, base64.b64encode(raw).decode()


def dead_letter(poison: Poison, processor: str, max_bytes: int) -> tuple[bytes | None, bytes]:
    """Key and value of the dead-letter record, at most ``max_bytes`` of value.

    The original bytes are copied once; when that would pass the cap they are left out
    and the letter points at their origin. Same record and reason, same bytes.
    """
    message = poison.message
    short_key = message.key is not None and len(message.key) <= KEY_CAP
    key_text, key_b64 = _text_or_base64(message.key) if short_key and message.key else (None, None)
    value_text, value_b64 = (
        _text_or_base64(message.value) if message.value is not None else (None, None)
    )
    fields: dict[str, Any] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "key": key_text if short_key else None,
        "key_base64": key_b64,
        "value": value_text,
        "value_base64": value_b64,
        "value_size": None if message.value is None else len(message.value),
        "error_kind": poison.kind,
        "error": poison.error[:ERROR_CAP],
        "processor": processor,
        "message_id": (poison.message_id or None) and poison.message_id[:MESSAGE_ID_CAP],
    }
    value = _dead_letter_json(poison, processor, fields, "")
    if len(value) > max_bytes:
        omitted = {**fields, "value": None, "value_base64": None, "value_omitted": True}
        value = _dead_letter_json(poison, processor, omitted, "")
    return (message.key if short_key else None), value


def minimal_dead_letter(poison: Poison, processor: str) -> tuple[bytes | None, bytes]:
    """The smallest dead letter there is: where the record is and why (its own id)."""
    message = poison.message
    fields: dict[str, Any] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "value_size": None if message.value is None else len(message.value),
        "value_omitted": True,
        "error_kind": poison.kind,
        "error": poison.error[:200],
        "processor": processor,
    }
    return None, _dead_letter_json(poison, processor, fields, "/minimal")


def _dead_letter_json(poison: Poison, processor: str, fields: dict[str, Any], suffix: str) -> bytes:
    message = poison.message
    return cloud_event_json(
        id_=dead_letter_id(poison) + suffix,
        type_=DEAD_LETTER_TYPE,
        source=f"lmp-billing/{processor}",
        subject=fields.get("message_id"),
        time=record_time(message),
        data=DeadLetter.model_validate(fields),
    ).encode()


def original_bytes(letter: DeadLetter) -> bytes | None:
    """The original value a dead letter carries, or None (tombstone, or left out)."""
    if letter.value_base64 is not None:
        return base64.b64decode(letter.value_base64)
    if letter.value is not None:
        return letter.value.encode()
    return None
