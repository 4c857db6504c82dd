"""Decoding inbound bytes: envelope, type, schema; dead-letter records."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from services.adapters.codec import Decoded, InboundMessage, Poison, dead_letter, decode

pytestmark = pytest.mark.unit

USAGE = frozenset({"lmp.usage.reported"})


def message(value: bytes) -> InboundMessage:
    return InboundMessage("lmp.usage.v1", 2, 41, b"PA", value)


def envelope(**data: object) -> bytes:
    body = {
        "partner_id": "PA",
        "cycle": "2026-10",
        "product_id": "X",
        "subscription_id": "s",
        "provisioned_units": 3,
        "observed_at": "2026-10-02T00:00:00Z",
        **data,
    }
    return json.dumps(
        {
            "specversion": "1.0",
            "id": "e1",
            "source": "test",
            "type": "lmp.usage.reported",
            "time": "2026-10-02T00:00:00Z",
            "data": body,
        }
    ).encode()


def test_a_valid_usage_message_decodes_to_its_model() -> None:
    result = decode(message(envelope()), USAGE)
    assert isinstance(result, Decoded)
    assert result.data.model_dump()["provisioned_units"] == 3


@pytest.mark.parametrize(
    ("value", "kind", "fragment"),
    [
        (b"\xff\x00not json", "parse", "not JSON"),
        (b'{"id": "x"}', "schema", "not a CloudEvent"),
        (envelope(provisioned_units=-1), "schema", "provisioned_units"),
        (envelope(cycle="2026-13"), "schema", "cycle"),
        (
            envelope().replace(b"lmp.usage.reported", b"lmp.partner.draft-saved"),
            "unknown_type",
            "not carried",
        ),
    ],
)
def test_bad_messages_are_poison_with_a_readable_reason(
    value: bytes, kind: str, fragment: str
) -> None:
    result = decode(message(value), USAGE)
    assert isinstance(result, Poison)
    assert result.kind == kind
    assert fragment in result.error


def test_dead_letter_keeps_the_original_bytes_and_coordinates() -> None:
    raw = b"\xff\x00not json"
    key, value = dead_letter(
        Poison(message(raw), "parse", "boom"), "usage", datetime(2026, 10, 2, tzinfo=UTC)
    )
    record = json.loads(value)
    assert key == b"PA"
    assert record["id"] == "dead-letter/lmp.usage.v1/2/41"
    assert base64.b64decode(record["data"]["value_base64"]) == raw
    assert record["data"]["error"] == "boom"
