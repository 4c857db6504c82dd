"""Identifiers every producer can derive without a lookup."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def report_id(partner_id: str, cycle: str) -> str:
    return f"{partner_id}:{cycle}"


def event_id(report_id_: str, kind: str, cause: str | None = None) -> str:
    """Deterministic outbound event id: the same cause always yields the same id."""
    return f"{report_id_}/{kind}" if cause is None else f"{report_id_}/{kind}/{cause}"


def payload_hash(message_type: str, data: Any) -> str:
    """Fingerprint of what a message asks for (type and data, not envelope metadata)."""
    canonical = json.dumps([message_type, data], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
