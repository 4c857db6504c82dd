"""Decoding inbound bytes: envelope, type, schema; dead-letter records."""

from __future__ import annotations

import base64
import json
import random

import pytest

from schemas.events import DeadLetter
from services.adapters.codec import Decoded, InboundMessage, Poison, Tombstone, decode
from services.adapters.dead_letters import dead_letter, minimal_dead_letter, original_bytes

pytestmark = pytest.mark.unit

USAGE = frozenset({"lmp.usage.reported"})


def message(value: bytes | None) -> InboundMessage:
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
        (b"\xff\x00not json", "parse", "not UTF-8"),
        (b"not json", "parse", "not JSON"),
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


def test_dead_letter_keeps_the_original_bytes_once_and_coordinates() -> None:
    raw = b"\xff\x00not json"
    key, value = dead_letter(Poison(message(raw), "parse", "boom"), "usage", 65536)
    record = json.loads(value)
    assert key == b"PA"
    assert record["id"] == "dead-letter/lmp.usage.v1/2/41/parse"
    assert base64.b64decode(record["data"]["value_base64"]) == raw
    assert record["data"]["value"] is None
    assert record["data"]["error"] == "boom"


ENVELOPE_FIELDS = ("specversion", "id", "source", "type", "time", "subject", "data")
JSON_VALUES: tuple[object, ...] = (None, True, 0, -1, 1e308, "", "x" * 400, [], [1], {}, {"a": {}})


def test_no_bytes_at_all_make_decode_raise() -> None:
    rng = random.Random(7)
    values: list[bytes | None] = [None, b"", b"\x00", b"\xff" * 10, b"[" * 100_000, b"{" * 300]
    values += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) for _ in range(300)]
    base = json.loads(envelope())
    for name in ENVELOPE_FIELDS:
        for value in JSON_VALUES:
            values.append(json.dumps({**base, name: value}).encode())
        values.append(json.dumps({k: v for k, v in base.items() if k != name}).encode())
    for value in values:
        for compacted in (False, True):
            result = decode(message(value), USAGE, compacted=compacted)
            assert isinstance(result, Decoded | Poison | Tombstone)
            if isinstance(result, Poison):
                assert result.kind
                assert result.error
                assert result.message_id is None or isinstance(result.message_id, str)
                _key, letter = dead_letter(result, "usage", 65536)
                assert json.loads(letter)["data"]["error_kind"] == result.kind


def test_a_tombstone_means_withdrawal_on_a_compacted_topic_and_poison_elsewhere() -> None:
    assert isinstance(decode(message(None), USAGE, compacted=True), Tombstone)
    poison = decode(message(None), USAGE, compacted=False)
    assert isinstance(poison, Poison)
    assert poison.kind == "tombstone"
    assert "not compacted" in poison.error
    keyless = InboundMessage("lmp.accounts.v1", 0, 1, None, None)
    assert isinstance(decode(keyless, USAGE, compacted=True), Poison)


def test_an_id_of_the_wrong_json_type_is_not_taken_as_the_message_id() -> None:
    for odd in (5, {"a": 1}, ["x"], True):
        result = decode(message(json.dumps({"id": odd, "type": "t"}).encode()), USAGE)
        assert isinstance(result, Poison)
        assert result.kind == "schema"
        assert result.message_id is None


def test_units_are_strict_integers_and_bounded() -> None:
    for odd in ("5", True, 5.5, 10**13, -1):
        result = decode(message(envelope(provisioned_units=odd)), USAGE)
        assert isinstance(result, Poison), odd
        assert "provisioned_units" in result.error


def test_the_same_poison_always_makes_the_same_dead_letter() -> None:
    poison = Poison(message(b"not json"), "parse", "not JSON")
    assert dead_letter(poison, "usage", 65536) == dead_letter(poison, "usage", 65536)
    record = json.loads(dead_letter(poison, "usage", 65536)[1])
    assert record["time"] == "1970-01-01T00:00:00Z"
    dated = InboundMessage("lmp.usage.v1", 2, 41, b"PA", b"x", timestamp_ms=1_790_000_000_123)
    record = json.loads(dead_letter(Poison(dated, "parse", "x"), "usage", 65536)[1])
    assert record["time"] == "2026-09-21T14:13:20.123000Z"


def test_a_dead_letter_over_the_cap_points_at_the_original_instead_of_copying_it() -> None:
    big = b'{"id": "big", "data": "' + b"\\u0000" * 200_000 + b'"}'
    poison = Poison(message(big), "schema", "too odd", "big")
    key, value = dead_letter(poison, "usage", 64 * 1024)
    assert len(value) <= 64 * 1024
    data = json.loads(value)["data"]
    assert data["value_omitted"] is True
    assert data["value"] is None
    assert data["value_base64"] is None
    assert (data["topic"], data["partition"], data["offset"]) == ("lmp.usage.v1", 2, 41)
    assert data["value_size"] == len(big)
    assert key == b"PA"
    minimal_key, minimal = minimal_dead_letter(poison, "usage")
    assert minimal_key is None
    assert json.loads(minimal)["id"] == "dead-letter/lmp.usage.v1/2/41/schema/minimal"
    assert len(minimal) < 2048


def test_utf8_originals_are_kept_once_as_text() -> None:
    _key, value = dead_letter(Poison(message(b'{"a": 1}'), "schema", "x"), "usage", 65536)
    data = json.loads(value)["data"]
    assert data["value"] == '{"a": 1}'
    assert data["value_base64"] is None
    assert original_bytes(DeadLetter.model_validate(data)) == b'{"a": 1}'
