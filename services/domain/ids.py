"""Identifiers every producer can derive without a lookup."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel


def report_id(partner_id: str, cycle: str) -> str:
    return f"{partner_id}:{cycle}"


def event_id(report_id_: str, kind: str, cause: str | None = None) -> str:
    """Deterministic outbound event id: the same cause always yields the same id."""
    return f"{report_id_}/{kind}" if cause is None else f"{report_id_}/{kind}/{cause}"


def payload_hash(message_type: str, data: BaseModel) -> str:
    """Fingerprint of what a message asks for: its type and validated data, not the envelope.

    Hashing the validated model (pydantic-core's JSON, fields in declared order) makes
    equal requests equal whatever their key order or number spelling.
    """
    digest = hashlib.sha256(message_type.encode())
    digest.update(b"\x00")
    digest.update(data.__pydantic_serializer__.to_json(data))
    return digest.hexdigest()
