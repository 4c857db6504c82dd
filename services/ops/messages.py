"""Records decoded as the processors decode them, and the filters an operator looks with."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from schemas.envelope import RawCloudEvent
from schemas.events import DeadLetter
from services.adapters.catalogue import Catalogue
from services.adapters.cloudevents_binding import Headers
from services.adapters.codec import Decoded, InboundMessage, Tombstone, decode, read_envelope
from services.adapters.dead_letters import original_bytes, original_headers
from services.domain.ids import report_id
from services.ops.reading import TopicRecord

REPLAYED_FROM = "lmp-replayed-from"
"""Header on a replayed record: ``<dead-letter topic>:<partition>:<offset>`` it came from."""


@dataclass(frozen=True)
class TailedMessage:
    """A record read as the processors would read it, decodable or not."""

    record: TopicRecord
    event: RawCloudEvent | None
    data: BaseModel | None
    error: str | None
    original: TailedMessage | None = None
    """For a dead letter: the message that could not be applied."""
    tombstone: bool = False
    """A null value on a compacted topic: its key's entity is withdrawn."""

    @property
    def type(self) -> str | None:
        return self.event.type if self.event else None

    @property
    def letter(self) -> DeadLetter | None:
        return self.data if isinstance(self.data, DeadLetter) else None

    @property
    def raw_data(self) -> dict[str, Any]:
        return self.event.data if self.event else {}

    @property
    def report_id(self) -> str | None:
        """The report a message is about: its ``report_id``, or partner and cycle (usage)."""
        data = self.raw_data
        if isinstance(data.get("report_id"), str):
            return str(data["report_id"])
        partner, cycle = data.get("partner_id"), data.get("cycle")
        if isinstance(partner, str) and isinstance(cycle, str):
            return report_id(partner, cycle)
        return None

    @property
    def key_text(self) -> str | None:
        key = self.record.key
        return key.decode(errors="replace") if key is not None else None

    @property
    def about(self) -> str:
        """What the message concerns, for a person: report, subject or key."""
        if self.original is not None:
            return self.original.about
        subject = self.event.subject if self.event else None
        return self.report_id or subject or self.key_text or "-"


def read_message(record: TopicRecord, catalogue: Catalogue) -> TailedMessage:
    """Decode like the processors do (envelope, then the type's model); never raise."""
    spec = catalogue.topics.get(record.topic)
    allowed = frozenset(spec.types if spec is not None else ())
    compacted = spec is not None and spec.cleanup_policy == "compact"
    inbound = InboundMessage(
        record.topic,
        record.partition,
        record.offset,
        record.key,
        record.value,
        record.timestamp_ms,
        record.headers,
    )
    result = decode(inbound, allowed, compacted=compacted)
    if isinstance(result, Decoded):
        original = _original(record, result.data, catalogue)
        return TailedMessage(record, result.envelope, result.data, None, original)
    if isinstance(result, Tombstone):
        return TailedMessage(record, None, None, None, tombstone=True)
    envelope = _envelope(inbound)
    return TailedMessage(record, envelope, None, f"{result.kind}: {result.error}")


def _envelope(inbound: InboundMessage) -> RawCloudEvent | None:
    """The envelope of a message whose data did not pass, when there is one."""
    if inbound.value is None:
        return None
    envelope = read_envelope(inbound, inbound.value)
    return envelope if isinstance(envelope, RawCloudEvent) else None


def letter_bytes(letter: DeadLetter, record_key: bytes | None) -> tuple[bytes | None, bytes | None]:
    """The original key and value a dead letter carries; the value is None for a tombstone
    and when it was left out. ``record_key`` (the dead letter's own key) stands in for a
    key the letter does not spell. ValueError when its base64 is broken."""
    if letter.key_base64 is not None:
        key: bytes | None = base64.b64decode(letter.key_base64, validate=True)
    else:
        key = letter.key.encode() if letter.key is not None else record_key
    return key, original_bytes(letter)


def _original(record: TopicRecord, data: BaseModel, catalogue: Catalogue) -> TailedMessage | None:
    if not isinstance(data, DeadLetter):
        return None
    headers: Headers = ()
    try:
        key, value = letter_bytes(data, record.key)
        headers = original_headers(data)
    except ValueError as exc:
        key, value = record.key, None
        broken: str | None = f"the dead letter's base64 does not decode: {exc}"
    else:
        broken = _omitted_text(data) if data.value_omitted else None
    source = TopicRecord(
        data.topic, data.partition, data.offset, record.timestamp_ms, key, value, headers
    )
    if broken is not None:
        return TailedMessage(source, None, None, broken)
    return read_message(source, catalogue)


def _omitted_text(letter: DeadLetter) -> str:
    size = "?" if letter.value_size is None else letter.value_size
    return (
        f"value omitted ({size} bytes): the original is at "
        f"{letter.topic} {letter.partition}:{letter.offset}"
    )


# filtering ------------------------------------------------------------------


@dataclass(frozen=True)
class MessageFilter:
    """What an operator looks for; a dead letter matches when it or its original does."""

    report: str | None = None
    partner: str | None = None
    types: tuple[str, ...] = ()

    def matches(self, message: TailedMessage) -> bool:
        candidates = [message] if message.original is None else [message, message.original]
        checks = []
        if self.report is not None:
            checks.append(self._about_report)
        if self.partner is not None:
            checks.append(self._about_partner)
        if self.types:
            checks.append(self._of_type)
        return all(any(check(m) for m in candidates) for check in checks)

    def _about_report(self, m: TailedMessage) -> bool:
        subject = m.event.subject if m.event else None
        return self.report in (m.report_id, subject, m.key_text)

    def _about_partner(self, m: TailedMessage) -> bool:
        assert self.partner is not None
        prefix = f"{self.partner}:"
        subject = (m.event.subject if m.event else None) or ""
        return (
            m.raw_data.get("partner_id") == self.partner
            or m.key_text == self.partner
            or (m.report_id or "").startswith(prefix)
            or subject.startswith(prefix)
        )

    def _of_type(self, m: TailedMessage) -> bool:
        type_ = m.type
        if type_ is None:
            return False
        return any(
            type_ == want or type_.startswith(want if want.endswith(".") else f"{want}.")
            for want in self.types
        )
