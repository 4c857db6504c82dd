"""The CloudEvents Kafka binding: both content modes in, structured mode out.

Binary- and structured-mode records are made with the official SDK (cloudevents 2.x,
``cloudevents.core.bindings.kafka``), as an outside producer would make them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from schemas.events import DeadLetter
from services.adapters.catalogue import Catalogue
from services.adapters.cloudevents_binding import (
    STRUCTURED_CONTENT_TYPE,
    STRUCTURED_HEADERS,
    Headers,
    Mode,
    Unreadable,
    content_mode,
    normalise,
)
from services.adapters.codec import Decoded, InboundMessage, Poison, Tombstone, decode, decode_on
from services.adapters.dead_letters import dead_letter, original_headers
from services.adapters.publisher import Publisher
from services.settings import PROJECT_ROOT
from tests.fakes import FakeProducer, Shell

pytestmark = pytest.mark.unit

CATALOGUE = Catalogue.load(PROJECT_ROOT / "topics.yaml")
TIME = datetime(2026, 10, 20, 10, 0, tzinfo=UTC)
ACTOR = {"account_id": "P-1", "user_id": "u-1"}
ACTION = {"report_id": "P-1:2026-10", "actor": ACTOR}

INBOUND: dict[str, dict[str, Any]] = {
    "lmp.usage.reported": {
        "partner_id": "P-1",
        "cycle": "2026-10",
        "product_id": "TM-WFBS",
        "subscription_id": "s-1",
        "provisioned_units": 10,
        "used_units": 8,
        "observed_at": "2026-10-20T10:00:00Z",
    },
    "lmp.account.partner": {
        "partner_id": "P-1",
        "name": "MSP One",
        "distributor_id": "D-1",
        "region": "EMEA",
        "currency": "EUR",
        "overprovision_threshold_pct": "10",
    },
    "lmp.account.distributor": {"distributor_id": "D-1", "name": "Dist", "region": "EMEA"},
    "lmp.account.region": {"region": "EMEA", "usage_reports": False},
    "lmp.pricing.price": {
        "region": "EMEA",
        "product_id": "TM-WFBS",
        "currency": "EUR",
        "unit_price": "10.00",
        "channel_margin": "0.20",
    },
    "lmp.pricing.promotion": {
        "code": "BDN-1",
        "kind": "bid_desk_number",
        "region": "EMEA",
        "product_ids": ["TM-WFBS"],
        "valid_from": "2026-10-01T00:00:00Z",
        "valid_until": "2026-11-01T00:00:00Z",
    },
    "lmp.partner.draft-saved": {**ACTION, "lines": [{"product_id": "TM-WFBS", "comment": "x"}]},
    "lmp.partner.report-submitted": ACTION,
    "lmp.distributor.draft-saved": {
        **ACTION,
        "po_number": "PO-1",
        "lines": [{"product_id": "TM-WFBS", "unit_price": "9.50"}],
    },
    "lmp.distributor.prices-reset": ACTION,
    "lmp.distributor.report-rejected": {**ACTION, "reasons": ["wrong"]},
    "lmp.distributor.submitted-to-trendmicro": {**ACTION, "comment": "ok"},
    "lmp.trendmicro.report-returned": {**ACTION, "reason": "PO"},
    "lmp.trendmicro.report-completed": {**ACTION, "reference": "TM-1"},
}


def sdk_event(type_: str, data: dict[str, Any] | None = None, **attributes: Any) -> SdkEvent:
    return SdkEvent(
        attributes={
            "id": f"id-{type_}",
            "source": "partner-portal",
            "type": type_,
            "time": TIME,
            "subject": "P-1:2026-10",
            **attributes,
        },
        data=INBOUND[type_] if data is None else data,
    )


def inbound(type_: str, message: KafkaMessage, offset: int = 7) -> InboundMessage:
    key = message.key.encode() if isinstance(message.key, str) else message.key
    headers = tuple(message.headers.items())
    topic = CATALOGUE.topic_for_type(type_)
    return InboundMessage(topic, 1, offset, key, message.value, 0, headers)


def binary(type_: str, **attributes: Any) -> InboundMessage:
    return inbound(type_, to_binary(sdk_event(type_, **attributes), JSONFormat()))


def structured(type_: str, **attributes: Any) -> InboundMessage:
    return inbound(type_, to_structured(sdk_event(type_, **attributes), JSONFormat()))


def decoded(message: InboundMessage) -> Decoded:
    result = decode_on(message, CATALOGUE)
    assert isinstance(result, Decoded), result
    return result


def poison(message: InboundMessage) -> Poison:
    result = decode_on(message, CATALOGUE)
    assert isinstance(result, Poison), result
    return result


# mode detection ---------------------------------------------------------------

SPEC = ("ce_specversion", b"1.0")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ((), Mode.STRUCTURED),
        ((("traceparent", b"00-ab"),), Mode.STRUCTURED),
        ((("content-type", b"application/cloudevents+json"),), Mode.STRUCTURED),
        ((("content-type", STRUCTURED_CONTENT_TYPE.encode()),), Mode.STRUCTURED),
        ((("Content-Type", b"Application/CloudEvents+JSON; charset=UTF-8"),), Mode.STRUCTURED),
        ((("content-type", b"application/cloudevents+json"), SPEC), Mode.STRUCTURED),
        ((SPEC,), Mode.BINARY),
        ((("CE_SpecVersion", b"1.0"),), Mode.BINARY),
        ((("content-type", b"application/json"), SPEC), Mode.BINARY),
        ((("content-type", b"text/plain"), SPEC), Mode.BINARY),
        ((("content-type", b"application/json"),), Mode.STRUCTURED),
        ((("ce_id", b"x"), ("ce_type", b"t")), Mode.STRUCTURED),
        ((("content-type", b"application/cloudevents-batch+json"),), "parse"),
        ((("content-type", b"application/cloudevents+avro"), SPEC), "parse"),
        ((("content-type", b"application/cloudevents+json; charset=latin-1"),), "parse"),
        ((("content-type", b"\xffbad"),), "parse"),
        (
            (("content-type", b"application/json"), ("content-type", b"text/plain"), SPEC),
            "schema",
        ),
    ],
)
def test_the_content_mode_follows_the_kafka_binding(headers: Headers, expected: Mode | str) -> None:
    mode = content_mode(headers)
    if isinstance(expected, Mode):
        assert mode is expected
    else:
        assert isinstance(mode, Unreadable)
        assert mode.kind == expected


# binary mode in ---------------------------------------------------------------


@pytest.mark.parametrize("type_", sorted(INBOUND))
def test_every_inbound_type_decodes_in_binary_mode_as_in_structured_mode(type_: str) -> None:
    from_binary, from_structured = decoded(binary(type_)), decoded(structured(type_))
    assert from_binary.envelope == from_structured.envelope
    assert from_binary.data == from_structured.data
    assert from_binary.payload_hash == from_structured.payload_hash
    assert from_binary.envelope.subject == "P-1:2026-10"
    assert from_binary.envelope.time == TIME


def test_the_inbound_samples_cover_every_inbound_type() -> None:
    topics = CATALOGUE.topics.values()
    assert set(INBOUND) == {t for spec in topics if spec.direction == "in" for t in spec.types}


def test_the_same_event_in_either_mode_has_one_payload_hash_and_differs_from_another() -> None:
    usage = "lmp.usage.reported"
    plain = structured(usage)
    no_header = InboundMessage(plain.topic, 1, 9, plain.key, plain.value)
    hashes = {decoded(m).payload_hash for m in (binary(usage), plain, no_header)}
    assert len(hashes) == 1
    other = sdk_event(usage, {**INBOUND[usage], "provisioned_units": 11})
    changed = decoded(inbound(usage, to_binary(other, JSONFormat())))
    assert changed.payload_hash not in hashes


def test_binary_mode_reads_extensions_and_the_datacontenttype() -> None:
    usage = "lmp.usage.reported"
    event = sdk_event(usage, datacontenttype="application/vnd.lmp+json; charset=utf-8")
    message = to_binary(event, JSONFormat())
    headers = {**message.headers, "ce_traceparent": b"00-abc", "other": b"ignored"}
    result = decoded(inbound(usage, KafkaMessage(headers, message.key, message.value)))
    assert result.envelope.datacontenttype == "application/vnd.lmp+json; charset=utf-8"
    assert result.envelope.model_extra == {"traceparent": "00-abc"}


def test_a_binary_record_is_refused_with_the_strict_rules_of_a_structured_one() -> None:
    usage = "lmp.usage.reported"
    bad = sdk_event(usage, {**INBOUND[usage], "provisioned_units": -1})
    found = poison(inbound(usage, to_binary(bad, JSONFormat())))
    assert (found.kind, found.message_id) == ("schema", f"id-{usage}")
    assert found.error.startswith("lmp.usage.reported: provisioned_units")
    region = binary("lmp.account.region")
    elsewhere = InboundMessage("lmp.usage.v1", 0, 1, None, region.value, 0, region.headers)
    assert poison(elsewhere).kind == "unknown_type"


def test_binary_attributes_are_validated_like_structured_ones() -> None:
    usage = "lmp.usage.reported"
    message = to_binary(sdk_event(usage), JSONFormat())
    for header, value, fragment in [
        ("ce_time", b"yesterday", "time"),
        ("ce_specversion", b"0.3", "specversion"),
        ("ce_id", b"", "id"),
    ]:
        headers = {**message.headers, header: value}
        found = poison(inbound(usage, KafkaMessage(headers, None, message.value)))
        assert found.kind == "schema"
        assert found.error.startswith("not a CloudEvent (binary mode")
        assert fragment in found.error


def test_headers_that_are_not_utf8_make_a_parse_dead_letter() -> None:
    usage = "lmp.usage.reported"
    message = to_binary(sdk_event(usage), JSONFormat())
    headers = {**message.headers, "ce_source": b"\xff\xfeportal"}
    found = poison(inbound(usage, KafkaMessage(headers, None, message.value)))
    assert found.kind == "parse"
    assert "'ce_source' is not UTF-8" in found.error
    assert found.message_id == f"id-{usage}"


def test_ce_headers_without_ce_specversion_are_read_as_structured_and_say_so() -> None:
    usage = "lmp.usage.reported"
    message = to_binary(sdk_event(usage), JSONFormat())
    headers = {k: v for k, v in message.headers.items() if k != "ce_specversion"}
    found = poison(inbound(usage, KafkaMessage(headers, None, message.value)))
    assert found.kind == "schema"
    assert found.error.startswith("not a CloudEvent: ")
    assert "no ce_specversion header" in found.error


@pytest.mark.parametrize(
    ("content_type", "fragment"),
    [
        (b"text/plain", "content type 'text/plain' is not read"),
        (b"application/xml", "content type 'application/xml' is not read"),
        (b"application/json; charset=iso-8859-1", "charset 'iso-8859-1'"),
    ],
)
def test_binary_data_of_another_content_type_than_json_is_a_dead_letter(
    content_type: bytes, fragment: str
) -> None:
    usage = "lmp.usage.reported"
    message = to_binary(sdk_event(usage), JSONFormat())
    headers = {**message.headers, "content-type": content_type}
    found = poison(inbound(usage, KafkaMessage(headers, None, message.value)))
    assert found.kind == "parse"
    assert fragment in found.error


@pytest.mark.parametrize(
    ("value", "kind", "fragment"),
    [
        (b"\xff{}", "parse", "data is not UTF-8"),
        (b'{"partner_id": ', "parse", "data is not JSON"),
        (b'{}, "id": "spoofed"', "parse", "data is not JSON"),
        (b"[1, 2]", "schema", "data"),
        (b"", "schema", "data"),
    ],
)
def test_binary_data_that_is_not_one_json_object_is_a_dead_letter(
    value: bytes, kind: str, fragment: str
) -> None:
    usage = "lmp.usage.reported"
    message = to_binary(sdk_event(usage), JSONFormat())
    found = poison(inbound(usage, KafkaMessage(message.headers, None, value)))
    assert (found.kind, found.message_id) == (kind, f"id-{usage}")
    assert fragment in found.error


def test_a_header_with_a_null_value_is_read_as_empty() -> None:
    message = to_binary(sdk_event("lmp.usage.reported"), JSONFormat())
    headers = normalise([*message.headers.items(), ("ce_note", None)])
    result = decoded(InboundMessage("lmp.usage.v1", 0, 1, None, message.value, 0, headers))
    assert result.envelope.model_extra == {"note": ""}


def test_a_tombstone_stays_a_tombstone_whatever_its_headers() -> None:
    message = InboundMessage("lmp.accounts.v1", 0, 3, b"P-1", None, 0, (SPEC,))
    assert isinstance(decode(message, frozenset(), compacted=True), Tombstone)


# dead letters of binary records ------------------------------------------------


def test_a_binary_records_dead_letter_keeps_its_headers_in_order() -> None:
    usage = "lmp.usage.reported"
    bad = sdk_event(usage, {**INBOUND[usage], "cycle": "2026-13"})
    message = to_binary(bad, JSONFormat())
    headers = (*message.headers.items(), ("raw", b"\x00\xff"))
    record = InboundMessage("lmp.usage.v1", 1, 7, b"P-1", message.value, 0, headers)
    _key, value = dead_letter(poison(record), "usage", 512 * 1024)
    letter = DeadLetter.model_validate(json.loads(value)["data"])
    assert original_headers(letter) == headers
    assert [h.name for h in letter.headers][-1] == "raw"
    assert letter.headers[-1].value_base64 is not None
    # The dead letter read back (as tail and replay read it) is the same binary record.
    assert letter.value is not None
    again = InboundMessage("lmp.usage.v1", 1, 7, b"P-1", letter.value.encode(), 0, headers)
    assert poison(again).error == poison(record).error


def test_over_the_cap_the_value_goes_first_and_the_headers_after_it() -> None:
    usage = "lmp.usage.reported"
    message = to_binary(sdk_event(usage, {**INBOUND[usage], "cycle": "x" * 3000}), JSONFormat())
    headers = tuple(message.headers.items())
    found = poison(InboundMessage("lmp.usage.v1", 1, 7, b"P-1", message.value, 0, headers))
    full = len(dead_letter(found, "usage", 10**6)[1])
    without_value = DeadLetter.model_validate(
        json.loads(dead_letter(found, "usage", full - 1)[1])["data"]
    )
    assert without_value.value_omitted
    assert without_value.headers
    assert not without_value.headers_omitted
    tiny = dead_letter(found, "usage", 200)[1]
    bare = DeadLetter.model_validate(json.loads(tiny)["data"])
    assert bare.value_omitted
    assert bare.headers_omitted
    assert bare.headers == []


# structured mode out ----------------------------------------------------------


async def test_every_published_record_is_structured_with_its_content_type() -> None:
    producer = FakeProducer()
    await Publisher(lambda: producer).publish([("t", b"k", b"{}")])
    assert producer.sent_headers == [list(STRUCTURED_HEADERS)]


async def test_dead_letters_with_and_without_a_subject_parse_with_the_sdk() -> None:
    shell = Shell()
    rt = shell.runtime("accounts")
    binary_record = binary("lmp.account.partner", id="bad")
    binary_record.value = b"{"
    no_id = InboundMessage("lmp.accounts.v1", 0, 5, b"k", b"not json")
    await rt.outbox.dead_letter([poison(binary_record), poison(no_id)], "accounts")
    records = list(zip(shell.producer.sent, shell.producer.sent_headers, strict=True))
    events = [
        from_kafka(KafkaMessage(dict(headers), key, value or b""), JSONFormat())
        for (_topic, key, value), headers in records
    ]
    assert [e.get_type() for e in events] == ["lmp.dead-letter"] * 2
    assert [e.get_subject() for e in events] == ["bad", None]
    kept = events[0].get_data()
    assert isinstance(kept, dict)
    assert kept["headers"][0]["name"] == "ce_id"
