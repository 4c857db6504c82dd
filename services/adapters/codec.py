"""Bytes on a topic <-> validated models: CloudEvents in, CloudEvents out.

``decode`` accepts any record at all — null value or key, any bytes, any JSON, any
headers, structured or binary content mode (``cloudevents_binding``) — and answers with
a decoded message, a tombstone (on a compacted topic) or a poison with a reason; it
never raises. A poison becomes a dead letter (``dead_letters``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.envelope import CloudEvent, RawCloudEvent, typed_envelopes
from schemas.registry import MESSAGE_TYPES
from schemas.report import OutboxEntry
from services.adapters.catalogue import Catalogue
from services.adapters.cloudevents_binding import (
    Headers,
    Mode,
    Unreadable,
    binary_envelope,
    content_mode,
    structured_hint,
)
from services.domain.events import DomainEvent
from services.domain.ids import payload_hash
from services.observability import tracing

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
    headers: Headers = ()
    decoded: Decoded | Tombstone | Poison | None = field(default=None, compare=False, repr=False)
    trace: object = field(default=None, compare=False, repr=False)
    """Its trace context once tracing has looked for it (``services.observability.tracing``)."""


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
    envelope = read_envelope(message, message.value)
    if isinstance(envelope, Poison):
        return envelope
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


def read_envelope(message: InboundMessage, value: bytes) -> RawCloudEvent | Poison:
    """The envelope of a record in either content mode (a binary one is first put
    together as the structured JSON it stands for, so both validate alike)."""
    mode = content_mode(message.headers)
    if mode is Mode.BINARY:
        binary = binary_envelope(message.headers, value)
        if isinstance(binary, Unreadable):
            return Poison(message, binary.kind, binary.error, _header_id(message.headers))
        value = binary
    elif isinstance(mode, Unreadable):
        return Poison(message, mode.kind, mode.error, _header_id(message.headers))
    try:
        return RawCloudEvent.model_validate_json(value)
    except ValidationError as exc:
        poison = _envelope_poison(message, value, exc, binary=mode is Mode.BINARY)
        hint = "" if mode is Mode.BINARY else structured_hint(message.headers)
        return Poison(message, poison.kind, poison.error + hint, poison.message_id)


def _header_id(headers: Headers) -> str | None:
    """A binary-mode record's ``ce_id``, for a dead letter of one that cannot be read."""
    for name, raw in headers:
        if name.lower() == "ce_id":
            text = raw.decode("utf-8", errors="replace")[:MESSAGE_ID_CAP]
            return text or None
    return None


def _envelope_poison(
    message: InboundMessage, value: bytes, exc: ValidationError, *, binary: bool = False
) -> Poison:
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
    what = "not a CloudEvent (binary mode: ce_* headers and data)" if binary else "not a CloudEvent"
    return Poison(message, "schema", f"{what}: {_errors(exc)}", message_id)


def decode_on(message: InboundMessage, catalogue: Catalogue) -> Decoded | Tombstone | Poison:
    """``decode`` with what the topic's catalogue entry says it carries (done once).

    A record is first read in one pass, envelope and data together (``_one_pass``);
    only one that pass refuses is read again by ``decode``, which says why.
    """
    if message.decoded is None:
        spec = catalogue[message.topic]
        allowed = frozenset(spec.types)
        result: Decoded | Tombstone | Poison | None = _one_pass(message, allowed)
        if result is None:
            result = decode(message, allowed, compacted=spec.cleanup_policy == "compact")
            if isinstance(result, Decoded):
                # The envelope's raw data is now the validated ``data``: a batch in memory
                # should not hold both (half of a usage message's footprint).
                result.envelope.data.clear()
        message.decoded = result
    return message.decoded


def _one_pass(message: InboundMessage, allowed: frozenset[str]) -> Decoded | None:
    """The record decoded by one validation of envelope and data, each type's envelope
    with its data model (``schemas.envelope.typed_envelopes``); None when that refuses it
    (``decode`` then reads it, and says why). A binary-mode record is read as the
    structured JSON it stands for, as ``decode`` reads it.

    It accepts exactly what ``decode`` accepts, with the same data and so the same
    payload hash (tests/unit/test_schema_decoder_agreement.py compares the two on every type)."""
    adapter = typed_envelopes(allowed)
    value = message.value
    if adapter is None or value is None:
        return None
    mode = content_mode(message.headers)
    if mode is Mode.BINARY:
        binary = binary_envelope(message.headers, value)
        if isinstance(binary, Unreadable):
            return None
        value = binary
    elif mode is not Mode.STRUCTURED:
        return None
    try:
        envelope = adapter.validate_json(value)
    except ValidationError:
        return None
    if envelope.time is None and message.timestamp_ms > 0:
        envelope.time = record_time(message)
    data: BaseModel = envelope.data
    return Decoded(message, envelope, data, payload_hash(envelope.type, data))


def decode_ahead(batch: Sequence[InboundMessage], catalogue: Catalogue) -> None:
    """Decode a batch before it is handled (CPU that can overlap the previous batch's I/O)."""
    for message in batch:
        decode_on(message, catalogue)


# outbound -------------------------------------------------------------------


def cloud_event_json(
    *,
    id_: str,
    type_: str,
    source: str,
    subject: str | None,
    time: datetime,
    data: BaseModel,
    extensions: dict[str, str] | None = None,
) -> str:
    """A structured-mode CloudEvent; an event without a subject has no ``subject`` (an
    attribute is never null or empty in CloudEvents, and the SDK refuses one that is)."""
    event: CloudEvent[dict[str, Any]] = CloudEvent(
        id=id_,
        source=source,
        type=type_,
        subject=subject,
        time=time,
        data=data.model_dump(mode="json"),
        **(extensions or {}),
    )
    return event.model_dump_json(exclude=None if subject else {"subject"})


def outbox_entry(event: DomainEvent, topic: str, source: str) -> OutboxEntry:
    """Serialize once, at decision time: every later publication sends these bytes."""
    value = cloud_event_json(
        id_=event.id,
        type_=event.type,
        source=source,
        subject=event.subject,
        time=event.time,
        data=event.data,
        # The trace of the work that decided it (CloudEvents distributed tracing), stored
        # with the bytes: a replay or a sweep sends the same trace context again.
        extensions=tracing.traceparent(),
    )
    return OutboxEntry(id=event.id, topic=topic, key=event.subject or event.id, value=value)


def record_time(message: InboundMessage) -> datetime:
    """The record's own timestamp (milliseconds): what makes a dead letter reproducible."""
    try:
        return datetime.fromtimestamp(max(message.timestamp_ms, 0) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.fromtimestamp(0, UTC)
