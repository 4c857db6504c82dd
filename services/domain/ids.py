"""Identifiers every producer can derive without a lookup."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel


def report_id(partner_id: str, cycle: str) -> str:
    return f"{partner_id}:{cycle}"


EVENT_ID_MAX = 300
"""The envelope's bound on an id (schemas.envelope.CloudEvent), ours as everyone's."""
_DIGEST = "sha256:"


def event_id(report_id_: str, kind: str, cause: str | None = None) -> str:
    """Deterministic outbound event id: the same cause always yields the same id.

    A cause is usually an inbound message's id, which may itself be 300 characters: one
    that would take the id past the envelope's bound is named by its digest instead (160
    bits), so the longest report id (208) with any kind still fits.
    """
    if cause is None:
        return f"{report_id_}/{kind}"
    whole = f"{report_id_}/{kind}/{cause}"
    if len(whole) <= EVENT_ID_MAX:
        return whole
    digest = hashlib.sha256(cause.encode()).hexdigest()[:40]
    return f"{report_id_}/{kind}/{_DIGEST}{digest}"


def payload_hash(message_type: str, data: BaseModel) -> str:
    """Fingerprint of what a message asks for: its type and validated data, not the envelope.

    Hashing the validated model (pydantic-core's JSON, fields in declared order) makes
    equal requests equal whatever their key order or number spelling.
    """
    digest = hashlib.sha256(message_type.encode())
    digest.update(b"\x00")
    digest.update(data.__pydantic_serializer__.to_json(data))
    return digest.hexdigest()
