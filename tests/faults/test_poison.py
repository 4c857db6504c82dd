"""Poison on every inbound topic: each one a dead letter with its reason, nothing stalls.

Every poison record is followed by a valid message on the same partition; the valid
ones must all be applied (or answered), the poison all dead-lettered with a reason
that points back at the record, and a tombstone on a compacted topic must mean what
the processors document: the named account or price is withdrawn.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata

from tests import builders
from tests.faults.ledger import Counts, dead_letters, ids_with_two_payloads, payloads_by_id
from tests.harness import System, cloud_event, eventually, unique

pytestmark = pytest.mark.faults

PROCESSORS = (
    "usage",
    "accounts",
    "pricing",
    "partner-actions",
    "distributor-actions",
    "trendmicro-responses",
)
COMPACTED = {"lmp.accounts.v1", "lmp.pricing.v1"}
NEAR_LIMIT = 1_000_000
"""Bytes of the largest poison: under the broker's 1 MiB, far over the dead-letter cap."""

Record = tuple[bytes | None, bytes | None]


def usage_data(partner: str) -> dict[str, Any]:
    return builders.usage_data(partner, sub="s1", provisioned=3, observed_at="2026-10-20T10:00:00Z")


# topic -> (type, valid data for a unique name, out-of-range variants of that data)
VALID: dict[str, tuple[str, Callable[[str], dict[str, Any]], list[dict[str, Any]]]] = {
    "lmp.usage.v1": (
        "lmp.usage.reported",
        usage_data,
        [{"provisioned_units": 10**30}, {"provisioned_units": "5"}, {"used_units": True}],
    ),
    "lmp.accounts.v1": (
        "lmp.account.partner",
        lambda n: {
            "partner_id": n,
            "name": n,
            "distributor_id": "D",
            "region": "EMEA",
            "currency": "EUR",
        },
        [{"auto_submit_days": 10**9}, {"currency": "XYZ"}, {"overprovision_threshold_pct": 1e400}],
    ),
    "lmp.pricing.v1": (
        "lmp.pricing.price",
        lambda n: {
            "region": "EMEA",
            "product_id": n,
            "currency": "EUR",
            "unit_price": "2.50",
            "channel_margin": "0.2",
        },
        [{"unit_price": "1E+30"}, {"unit_price": 1e308}, {"channel_margin": "7"}],
    ),
    "lmp.partner-actions.v1": (
        "lmp.partner.draft-saved",
        lambda n: builders.action_data(f"{n}:2026-10"),
        [
            {"lines": [{"product_id": "AV", "chargeable_units": 10**30}]},
            {"lines": [{"product_id": "AV", "chargeable_units": "5"}]},
            {"lines": [{"product_id": "AV", "chargeable_units": False}]},
        ],
    ),
    "lmp.distributor-actions.v1": (
        "lmp.distributor.draft-saved",
        lambda n: builders.action_data(f"{n}:2026-10"),
        [
            {"lines": [{"product_id": "AV", "unit_price": "1E+30"}]},
            {"lines": [{"product_id": "AV", "channel_margin": "-1"}]},
            {"po_number": 12},
        ],
    ),
    "lmp.trendmicro-responses.v1": (
        "lmp.trendmicro.report-returned",
        lambda n: builders.action_data(f"{n}:2026-10"),
        [{"reason": "x" * 5000}, {"reason": 5}, {"actor": None}],
    ),
}
FOREIGN = {"lmp.usage.v1": "lmp.account.partner"}


def envelope(type_: str, data: Any, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {
        "specversion": "1.0",
        "id": unique("poison-"),
        "source": "faults",
        "type": type_,
        "time": datetime.now(UTC).isoformat(),
        "subject": None,
        "data": data,
    }
    body.update(fields or {})
    return body


def poisons(topic: str) -> list[tuple[str, Record]]:
    """(case, record) of every poison this topic must survive."""
    type_, make, out_of_range = VALID[topic]
    data = make(unique("p"))
    cases: list[tuple[str, Record]] = [
        # A compacted topic's broker refuses records without a key; an empty one it takes.
        ("null value and key", (b"", None) if topic in COMPACTED else (None, None)),
        ("non-UTF-8", (b"k", b"\xff\xfe\x00garbage\xc3\x28")),
        ("not JSON", (b"k", b"this is { not json")),
        ("JSON, not an object", (b"k", b"[1, 2, 3]")),
        ("deep nesting", (b"k", b"[" * 20_000 + b"]" * 20_000)),
        ("unknown type", (b"k", json.dumps(envelope("lmp.nope", data)).encode())),
        (
            "foreign type",
            (
                b"k",
                json.dumps(envelope(FOREIGN.get(topic, "lmp.usage.reported"), data)).encode(),
            ),
        ),
        ("near the size limit", _json(envelope(type_, {**data, **_oversized_field(type_)}))),
    ]
    if topic not in COMPACTED:
        cases.append(("tombstone on a topic that is not compacted", (b"k", None)))
    for name in ("specversion", "id", "source", "type", "time", "data"):
        for wrong in (5, {"a": 1}, [1], True):
            cases.append(
                (f"{name} is {type(wrong).__name__}", _json(envelope(type_, data, {name: wrong})))
            )
        if name == "time":
            continue  # optional (CloudEvents): without it, the record's timestamp
        missing = envelope(type_, data)
        del missing[name]
        cases.append((f"{name} missing", _json(missing)))
    for variant in out_of_range:
        cases.append(
            (f"out of range {sorted(variant)}", _json(envelope(type_, {**data, **variant})))
        )
    return cases


def _oversized_field(type_: str) -> dict[str, Any]:
    """A field that fails its schema by being far too long (1 MB of it)."""
    field = "partner_id" if type_ != "lmp.pricing.price" else "product_id"
    if type_.startswith(("lmp.partner.", "lmp.distributor.", "lmp.trendmicro.")):
        field = "report_id"
    return {field: "x" * (NEAR_LIMIT - 2000)}


async def send_raw(
    producer: AIOKafkaProducer, topic: str, key: bytes | None, value: bytes | None
) -> RecordMetadata:
    """Any record the protocol allows; aiokafka's ``send`` refuses a null key with a null
    value, which other clients (and the wire) accept, so this goes one level down."""
    await producer.client._wait_on_metadata(topic)
    future = await producer._message_accumulator.add_message(
        TopicPartition(topic, 0), key, value, 30.0, timestamp_ms=None, headers=[]
    )
    meta: RecordMetadata = await future
    return meta


def _json(body: dict[str, Any]) -> Record:
    return b"k", json.dumps(body).encode()


async def test_poison_on_every_inbound_topic_is_dead_lettered_and_nothing_stalls(
    faulty: System,
) -> None:
    system = faulty
    await system.run_processors(PROCESSORS)
    producer = await system.producer()
    poison_at: dict[tuple[str, int, int], str] = {}
    valid: list[tuple[str, str]] = []
    sent = 0
    for topic in VALID:
        physical = system.topic(topic)
        type_, make, _ = VALID[topic]
        for case, (key, value) in poisons(topic):
            meta = await send_raw(producer, physical, key, value)
            poison_at[(physical, meta.partition, meta.offset)] = f"{topic}: {case}"
            name = unique("v")
            await producer.send_and_wait(
                physical, cloud_event(type_, make(name)), key=name.encode(), partition=0
            )
            valid.append((topic, name))
            sent += 2

    async def all_dead_lettered() -> bool:
        letters = await dead_letters(system)
        return len({(d["topic"], d["partition"], d["offset"]) for d in letters}) >= len(poison_at)

    with contextlib.suppress(AssertionError):  # what is missing is reported below
        await eventually(all_dead_lettered, timeout=120)
    applied = [name for topic, name in valid if await _applied(system, topic, name)]
    letters = await dead_letters(system)
    by_origin = {(d["topic"], d["partition"], d["offset"]): d for d in letters}
    missing = {where: case for where, case in poison_at.items() if where not in by_origin}
    unexpected = [d for d in letters if (d["topic"], d["partition"], d["offset"]) not in poison_at]
    payloads = await payloads_by_id(system)
    counts = Counts(
        sent=sent,
        applied=len(applied),
        dead_lettered=len(poison_at) - len(missing),
        lost=len(missing) + len(valid) - len(applied),
        duplicate_id_different_payload=len(ids_with_two_payloads(payloads)),
    )
    counts.show("poison on every inbound topic", poison=len(poison_at), unexpected=len(unexpected))
    assert not missing, missing
    assert not unexpected, unexpected
    assert len(applied) == len(valid)
    for where, letter in by_origin.items():
        assert letter["error_kind"], (poison_at[where], letter)
        assert letter["error"], (poison_at[where], letter)
        assert letter["value_size"] is None or letter["value_size"] > 0
    near = [by_origin[w] for w, case in poison_at.items() if case.endswith("near the size limit")]
    assert near
    assert all(d["value_omitted"] for d in near)
    counts.assert_sound()
    assert not system.dead_processors(), {n: system.logs(n) for n in system.dead_processors()}


async def test_a_tombstone_withdraws_what_its_key_names_on_the_compacted_topics(
    faulty: System,
) -> None:
    system = faulty
    await system.run_processors(("accounts", "pricing"))
    partner, product = unique("P-"), unique("AV-")
    type_, make, _ = VALID["lmp.accounts.v1"]
    await system.publish("lmp.accounts.v1", [(partner.encode(), cloud_event(type_, make(partner)))])
    price_type, price, _ = VALID["lmp.pricing.v1"]
    await system.publish(
        "lmp.pricing.v1", [(f"EMEA/{product}".encode(), cloud_event(price_type, price(product)))]
    )
    store = system.store
    await eventually(lambda: store.partners.find_one({"_id": partner}))
    await eventually(lambda: store.prices.find_one({"_id": f"EMEA|{product}"}))

    await system.publish("lmp.accounts.v1", [(partner.encode(), None)])  # type: ignore[list-item]
    await system.publish("lmp.pricing.v1", [(f"EMEA/{product}".encode(), None)])  # type: ignore[list-item]

    async def withdrawn() -> bool:
        doc = await store.partners.find_one({"_id": partner})
        gone = await store.prices.find_one({"_id": f"EMEA|{product}"})
        return doc is not None and doc.get("withdrawn_at") is not None and gone is None

    await eventually(withdrawn)
    assert await store.load_partners([partner]) == {}
    assert await dead_letters(system) == []


async def _applied(system: System, topic: str, name: str) -> bool:
    store = system.store
    if topic == "lmp.usage.v1":
        return await store.reports.find_one({"_id": f"{name}:2026-10"}) is not None
    if topic == "lmp.accounts.v1":
        return await store.partners.find_one({"_id": name}) is not None
    if topic == "lmp.pricing.v1":
        return await store.prices.find_one({"_id": f"EMEA|{name}"}) is not None
    outcomes = await store.outcomes.find({"report_id": f"{name}:2026-10"}).to_list(None)
    return len(outcomes) == 1
