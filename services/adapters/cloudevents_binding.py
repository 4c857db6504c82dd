"""The CloudEvents Kafka protocol binding: a record's content mode, and a binary-mode
record read as the structured envelope the codec validates.

Which mode a record is in is decided as the binding says (CloudEvents Kafka binding 1.0,
section 3): a ``content-type`` header starting with ``application/cloudevents`` means
structured mode; otherwise a ``ce_specversion`` header means binary mode; otherwise the
record is read as structured, as it always was. In binary mode the attributes are the
``ce_*`` headers (UTF-8 text), the ``content-type`` header is ``datacontenttype`` and the
value is the data, which must be JSON. Every record the system writes is structured
mode with ``STRUCTURED_HEADERS``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final

import pydantic_core

Headers = tuple[tuple[str, bytes], ...]
"""A record's headers in their order; a name may appear more than once."""

CONTENT_TYPE: Final = "content-type"
CE_PREFIX: Final = "ce_"
SPECVERSION_HEADER: Final = "ce_specversion"
STRUCTURED_JSON: Final = "application/cloudevents+json"
STRUCTURED_CONTENT_TYPE: Final = f"{STRUCTURED_JSON}; charset=utf-8"
STRUCTURED_HEADERS: Final[Headers] = ((CONTENT_TYPE, STRUCTURED_CONTENT_TYPE.encode()),)
"""The headers of every record the system produces (structured mode, JSON)."""

_NOT_ATTRIBUTES = frozenset({"", "data", "data_base64"})


class Mode(Enum):
    STRUCTURED = "structured"
    BINARY = "binary"


@dataclass(frozen=True)
class Unreadable:
    """Why a record cannot be read as a CloudEvent at all; ``kind`` is a dead letter's."""

    kind: str
    error: str


def normalise(headers: Sequence[tuple[str, bytes | None]] | None) -> Headers:
    """Headers as a consumer hands them (aiokafka's tuple, faust's list, or None); a
    header may have a null value on the wire, read as empty."""
    if not headers:
        return ()
    return tuple((name, b"" if value is None else value) for name, value in headers)


def _media_type(content_type: str) -> tuple[str, dict[str, str]]:
    """``type/subtype`` in lower case and the parameters (names in lower case)."""
    media, *params = content_type.split(";")
    parsed = {}
    for param in params:
        name, _, value = param.partition("=")
        parsed[name.strip().lower()] = value.strip().strip('"')
    return media.strip().lower(), parsed


def _text(name: str, raw: bytes) -> str | Unreadable:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Unreadable(
            "parse", f"header {name[:100]!r} is not UTF-8: {bad.reason} at byte {bad.start}"
        )


def _one(headers: Headers, wanted: str) -> str | Unreadable | None:
    """The text of header ``wanted`` (names compared in lower case), None when absent;
    two different values of it are unreadable."""
    found: str | None = None
    for name, raw in headers:
        if name.lower() != wanted:
            continue
        text = _text(name, raw)
        if isinstance(text, Unreadable):
            return text
        if found is not None and found != text:
            return Unreadable("schema", f"header {wanted!r} appears twice with different values")
        found = text
    return found


def _utf8_charset(params: dict[str, str], what: str) -> Unreadable | None:
    charset = params.get("charset", "utf-8").lower()
    if charset in ("utf-8", "utf8"):
        return None
    return Unreadable("parse", f"{what} in charset {charset[:40]!r}: only UTF-8 is read")


def content_mode(headers: Headers) -> Mode | Unreadable:
    """Structured or binary, by the binding's rules; a structured format other than
    JSON, or batch mode (not part of the Kafka binding), is unreadable."""
    if not headers:
        return Mode.STRUCTURED
    content_type = _one(headers, CONTENT_TYPE)
    if isinstance(content_type, Unreadable):
        return content_type
    if content_type is not None:
        media, params = _media_type(content_type)
        if media.startswith("application/cloudevents-batch"):
            return Unreadable(
                "parse", "batch content mode is not part of the Kafka binding: one event per record"
            )
        if media == STRUCTURED_JSON:
            return _utf8_charset(params, "a structured event") or Mode.STRUCTURED
        if media.startswith("application/cloudevents"):
            return Unreadable(
                "parse",
                f"event format {media[:100]!r} is not read; {STRUCTURED_JSON} (structured "
                "mode) or ce_* headers (binary mode) are",
            )
    if any(name.lower() == SPECVERSION_HEADER for name, _ in headers):
        return Mode.BINARY
    return Mode.STRUCTURED


def structured_hint(headers: Headers) -> str:
    """What to add to the reason a structured reading failed when the record looks like
    binary mode without its ``ce_specversion`` header."""
    if any(name.lower().startswith(CE_PREFIX) for name, _ in headers):
        return (
            " (the record has ce_* headers but no ce_specversion header, so it was read in "
            "structured mode; binary mode needs ce_specversion)"
        )
    return ""


def is_json(content_type: str) -> bool:
    """``application/json`` or a ``+json`` type (RFC 6839): data the codec can read."""
    media, _ = _media_type(content_type)
    return media == "application/json" or (media.count("/") == 1 and media.endswith("+json"))


def binary_attributes(headers: Headers) -> dict[str, str] | Unreadable:
    """The event's attributes from ``ce_*`` headers and ``content-type``, as text."""
    attributes: dict[str, str] = {}
    for name, raw in headers:
        lowered = name.lower()
        if lowered == CONTENT_TYPE:
            attribute = "datacontenttype"
        elif lowered.startswith(CE_PREFIX):
            attribute = lowered.removeprefix(CE_PREFIX)
            if attribute in _NOT_ATTRIBUTES or attribute == "datacontenttype":
                return Unreadable("schema", f"header {name[:100]!r} names no attribute")
        else:
            continue
        text = _text(name, raw)
        if isinstance(text, Unreadable):
            return text
        if attributes.setdefault(attribute, text) != text:
            return Unreadable(
                "schema", f"header {name[:100]!r} appears twice with different values"
            )
    return attributes


def binary_envelope(headers: Headers, value: bytes) -> bytes | Unreadable:
    """A binary-mode record as the structured JSON envelope it stands for: the
    attributes from the headers, the value (checked to be one JSON text) as ``data``.

    An empty value is an event without data. Data of any other content type than JSON
    is unreadable, as is a value that is not UTF-8 JSON.
    """
    attributes = binary_attributes(headers)
    if isinstance(attributes, Unreadable):
        return attributes
    content_type = attributes.get("datacontenttype")
    if content_type is not None:
        if not is_json(content_type):
            return Unreadable(
                "parse",
                f"binary mode: data of content type {content_type[:100]!r} is not read; "
                "application/json or a +json type is",
            )
        wrong_charset = _utf8_charset(_media_type(content_type)[1], "binary-mode data")
        if wrong_charset is not None:
            return wrong_charset
    head = json.dumps(attributes).encode()
    if not value:
        return head
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Unreadable(
            "parse", f"binary mode: data is not UTF-8: {bad.reason} at byte {bad.start}"
        )
    try:
        pydantic_core.from_json(value)
    except ValueError as exc:
        return Unreadable("parse", f"binary mode: data is not JSON: {str(exc)[:300]}")
    # ``value`` is one whole JSON text, so it can stand as the value of ``data`` as is:
    # the envelope then validates exactly as a structured one would, byte for byte.
    return b'{"data": ' + value + (b", " + head[1:] if len(head) > 2 else b"}")
