"""Dead letters: a record that cannot be applied, where it is and why, as a CloudEvent.

A dead letter is a pure function of the record and the reason, so a record
dead-lettered twice yields the same event id and the same bytes. It keeps the original
key, value and headers (a binary-mode event's attributes travel in its headers), up to
a size cap.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from schemas.events import DeadLetter, RecordHeader
from services.adapters.cloudevents_binding import Headers
from services.adapters.codec import (
    MESSAGE_ID_CAP,
    Poison,
    cloud_event_json,
    record_time,
)

DEAD_LETTER_TYPE = "lmp.dead-letter"
KEY_CAP = 1024
"""Keys longer than this are not copied into a dead letter (its pointer finds them)."""
ERROR_CAP = 2000


def dead_letter_id(poison: Poison) -> str:
    """The record's coordinates and why: the same record refused for the same reason is
    the same dead letter; a ``processing_error`` (an exception's text, which may differ
    from one delivery to the next) also names a digest of its reason."""
    message = poison.message
    ident = f"dead-letter/{message.topic}/{message.partition}/{message.offset}/{poison.kind}"
    if poison.kind == "processing_error":
        ident += "/" + hashlib.sha256(poison.error.encode()).hexdigest()[:12]
    return ident


def _text_or_base64(raw: bytes) -> tuple[str | None, str | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, base64.b64encode(raw).decode()


def dead_letter(poison: Poison, processor: str, max_bytes: int) -> tuple[bytes | None, bytes]:
    """Key and value of the dead-letter record, at most ``max_bytes`` of value.

    The original bytes are copied once; when that would pass the cap they are left out
    and the letter points at their origin, and if the headers alone still pass it they
    are left out too. Same record and reason, same bytes.
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
        "headers": letter_headers(message.headers),
    }
    value = _dead_letter_json(poison, processor, fields, "")
    if len(value) > max_bytes:
        fields = {**fields, "value": None, "value_base64": None, "value_omitted": True}
        value = _dead_letter_json(poison, processor, fields, "")
    if len(value) > max_bytes and message.headers:
        fields = {**fields, "headers": [], "headers_omitted": True}
        value = _dead_letter_json(poison, processor, fields, "")
    return (message.key if short_key else None), value


def letter_headers(headers: Headers) -> list[RecordHeader]:
    """A record's headers as a dead letter keeps them: each as text or in base64."""
    kept = []
    for name, raw in headers:
        text, b64 = _text_or_base64(raw)
        kept.append(RecordHeader(name=name, value=text, value_base64=b64))
    return kept


def original_headers(letter: DeadLetter) -> Headers:
    """The original record's headers a dead letter kept (ValueError: broken base64)."""
    return tuple(
        (
            header.name,
            base64.b64decode(header.value_base64, validate=True)
            if header.value_base64 is not None
            else (header.value or "").encode(),
        )
        for header in letter.headers
    )


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
