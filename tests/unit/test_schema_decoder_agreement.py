"""Inbound JSON Schemas and the decoder agree both ways, on generated instances.

Every instance hypothesis-jsonschema draws from an inbound schema is decoded (not
dead-lettered); every mutation of such an instance that the schema refuses (a required
attribute dropped, a value of a JSON type the schema does not admit, a bound, length,
pattern, format, enum or ``const`` broken, an unknown attribute where none is allowed)
is dead-lettered by the decoder. Bounded: ``EXAMPLES`` per type and direction.

The processors' one-pass reading (envelope and data in one validation) agrees with
``decode`` (the envelope tolerantly, then the data against its type's model) on the same
instances and changes: where one pass decodes, ``decode`` decodes the same data (the
payload hash a redelivery is compared by must never change), and the other way round.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from services.adapters import contract
from services.adapters.catalogue import Catalogue
from services.adapters.codec import Decoded, InboundMessage, Poison, _one_pass, decode
from services.settings import PROJECT_ROOT
from tests.unit.jsonschema_strategies import from_schema

pytestmark = pytest.mark.unit

EXAMPLES = 30
CATALOGUE = Catalogue.load(PROJECT_ROOT / "topics.yaml")
INBOUND = [m for m in contract.messages(CATALOGUE) if m.inbound]

CROSS_FIELD_RULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "lmp.pricing.promotion": lambda data: (
        datetime.fromisoformat(data["valid_until"]) > datetime.fromisoformat(data["valid_from"])
    ),
}
"""Rules a JSON Schema cannot state (comparing two fields), as the model enforces them:
instances that break them are not drawn (docs/contract.md lists them)."""

DROP = object()
"""A mutation that removes the attribute."""
WRONG_VALUES: list[Any] = [None, True, 1.5, "x", [], {}, -1, 10**30]
WRONG_TEXT = [
    "",
    "zz-not-listed",
    "lmp.report.opened",
    "lmp.unknown.type",
    "0.3",
    "2026-13",
    "1e3",
    " 1",
    "1.1234567",
    "1700000000",
    "2026-11-20",
    "2026-11-20 09:30:00Z",
    "2026-11-20T09:30:00",
    "2026-02-30T00:00:00Z",
    "0000-01-01T00:00:00Z",
]


def load(message: contract.MessageContract) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((PROJECT_ROOT / "schemas/json" / message.file).read_text())
    return schema


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def decoded(message: contract.MessageContract, instance: Any) -> Decoded | Poison:
    value = json.dumps(instance, ensure_ascii=False).encode()
    record = InboundMessage(message.topic, 0, 0, b"key", value, timestamp_ms=1)
    result = decode(record, frozenset(CATALOGUE[message.topic].types))
    assert isinstance(result, Decoded | Poison)
    return result


def follows_rules(message: contract.MessageContract, instance: dict[str, Any]) -> bool:
    rule = CROSS_FIELD_RULES.get(message.type)
    return rule is None or rule(instance["data"])


# where and how an instance can be broken ----------------------------------------


@dataclass(frozen=True)
class Spot:
    """A place in an instance: a property (or array item) and the schema it follows."""

    path: tuple[str | int, ...]
    schema: dict[str, Any]
    required: bool
    closed_object: bool = False


def resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def spots(
    value: Any, schema: dict[str, Any], root: dict[str, Any], path: tuple[Any, ...] = ()
) -> Iterator[Spot]:
    """Every property and item of ``value`` that ``schema`` describes, depth first."""
    schema = resolve(schema, root)
    if "anyOf" in schema:
        for branch in schema["anyOf"]:
            if validator({"$defs": root.get("$defs", {}), **branch}).is_valid(value):
                yield from spots(value, branch, root, path)
                return
        return
    if isinstance(value, dict) and "properties" in schema:
        if schema.get("additionalProperties") is False:
            yield Spot(path, schema, required=True, closed_object=True)
        for name, sub in schema["properties"].items():
            if name in value:
                yield Spot((*path, name), sub, name in schema.get("required", ()))
                yield from spots(value[name], sub, root, (*path, name))
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value[:3]):
            yield Spot((*path, i), schema["items"], required=True)
            yield from spots(item, schema["items"], root, (*path, i))


def bound_breakers(schema: dict[str, Any], root: dict[str, Any]) -> list[Any]:
    """Values just outside the bounds of ``schema`` (and of each ``anyOf`` branch)."""
    schema = resolve(schema, root)
    found: list[Any] = []
    for branch in schema.get("anyOf", [schema]):
        branch = resolve(branch, root)
        if "maxLength" in branch:
            found.append("x" * (branch["maxLength"] + 1))
        if "maximum" in branch:
            found.append(branch["maximum"] + 1)
        if "minimum" in branch:
            found.append(branch["minimum"] - 1)
        if branch.get("minItems", 0) >= 1:
            found.append([])
    return found


def mutations(spot: Spot, root: dict[str, Any]) -> list[Any]:
    if spot.closed_object:
        return ["unexpected-property"]
    candidates = [*WRONG_VALUES, *WRONG_TEXT, *bound_breakers(spot.schema, root)]
    return [DROP, *candidates] if spot.required else candidates


def mutate(instance: Any, spot: Spot, value: Any) -> Any:
    """A copy of ``instance`` with ``value`` at ``spot`` (or an unknown attribute added to
    a closed object, or the attribute dropped)."""
    broken = copy.deepcopy(instance)
    if spot.closed_object:
        target: Any = broken
        for step in spot.path:
            target = target[step]
        target["unexpected-property"] = 1
        return broken
    *parents, last = spot.path
    parent: Any = broken
    for step in parents:
        parent = parent[step]
    if value is DROP:
        del parent[last]
    else:
        parent[last] = value
    return broken


# the two directions ---------------------------------------------------------------


def breaks(
    instance: Any, spot: Spot, values: list[Any], check: Draft202012Validator
) -> Iterator[tuple[Any, Any]]:
    """Each value of ``values`` put at ``spot`` that makes an instance the schema refuses."""
    for value in values:
        broken = mutate(instance, spot, value)
        if not check.is_valid(broken):
            yield value, broken


def refused_but_decoded(
    message: contract.MessageContract, spot: Spot, value: Any, broken: Any
) -> str | None:
    """None when the decoder dead-letters ``broken``; else what the disagreement is."""
    if isinstance(decoded(message, broken), Poison):
        return None
    change = "dropped" if value is DROP else f"set to {value!r:.80}"
    where = "/".join(map(str, spot.path)) or "the event"
    return f"{message.type}: {where} {change}: the schema refuses it, the decoder accepts it"


@pytest.mark.parametrize("message", INBOUND, ids=lambda m: m.type)
def test_schema_and_decoder_agree_on_generated_instances(
    message: contract.MessageContract,
) -> None:
    """Each drawn instance is decoded; broken at each of its places (one drawn change the
    schema refuses per place), it is dead-lettered."""
    schema = load(message)
    check = validator(schema)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(from_schema(schema), st.data())
    def agree(instance: dict[str, Any], data: st.DataObject) -> None:
        assume(follows_rules(message, instance))
        check.validate(instance)
        result = decoded(message, instance)
        assert isinstance(result, Decoded), f"the schema accepts it, the decoder says {result}"
        for spot in spots(instance, schema, schema):
            order = data.draw(st.permutations(mutations(spot, schema)), label=str(spot.path))
            for value, broken in breaks(instance, spot, order, check):
                problem = refused_but_decoded(message, spot, value, broken)
                assert problem is None, f"{problem}\n{broken!r}"
                break

    agree()


@pytest.mark.parametrize("message", INBOUND, ids=lambda m: m.type)
def test_every_change_the_schema_refuses_to_its_example_is_dead_lettered(
    message: contract.MessageContract,
) -> None:
    """Exhaustive on the example event (every attribute present): each place, each change."""
    schema = load(message)
    check = validator(schema)
    (example,) = schema["examples"]
    assert isinstance(decoded(message, example), Decoded)
    tried, disagreements = 0, []
    for spot in spots(example, schema, schema):
        for value, broken in breaks(example, spot, mutations(spot, schema), check):
            tried += 1
            found = refused_but_decoded(message, spot, value, broken)
            if found:
                disagreements.append(found)
    assert tried >= 20
    assert not disagreements, "\n".join(disagreements)


# one pass and two agree ------------------------------------------------------------

ONE_PASS_EXAMPLES = 10

ODD_JSON = [
    b'{"specversion":"1.0","id":"a","source":"s","type":"TYPE","data":{},"data":DATA}',
    b'{"specversion":"1.0","id":"a","source":"s","type":"TYPE","data":DATA,"data":{}}',
    b'{"specversion":"1.0","id":"a","source":"s","type":"TYPE","time":"2026-11-20T09:30:00+01:00",'
    b'"data":DATA}',
    b'{"specversion":"1.0","id":"a","source":"s","type":"TYPE","tracestate":"x","data":DATA}',
]
"""A repeated key (the last one counts), a time with an offset, an extension."""


def one_record(message: contract.MessageContract, value: bytes) -> InboundMessage:
    return InboundMessage(message.topic, 0, 0, b"key", value, timestamp_ms=1_763_600_000_000)


def read_alike(message: contract.MessageContract, value: bytes) -> bool:
    """Asserts both readings agree on ``value``; True when it was decoded."""
    allowed = frozenset(CATALOGUE[message.topic].types)
    fast = _one_pass(one_record(message, value), allowed)
    slow = decode(one_record(message, value), allowed)
    if fast is None:
        assert not isinstance(slow, Decoded), f"only the two-pass decoder accepts {value!r:.300}"
        return False
    assert isinstance(slow, Decoded), f"only one pass accepts {value!r:.300}: {slow}"
    assert fast.data == slow.data
    assert type(fast.data) is type(slow.data)
    assert fast.payload_hash == slow.payload_hash
    for name in ("id", "source", "type", "time", "subject", "datacontenttype", "specversion"):
        assert getattr(fast.envelope, name) == getattr(slow.envelope, name), name
    assert fast.envelope.model_extra == slow.envelope.model_extra
    return True


def as_bytes(instance: Any) -> bytes:
    return json.dumps(instance, ensure_ascii=False).encode()


@pytest.mark.parametrize("message", INBOUND, ids=lambda m: m.type)
def test_one_pass_agrees_on_drawn_instances_and_their_changes(
    message: contract.MessageContract,
) -> None:
    schema = load(message)

    @settings(
        max_examples=ONE_PASS_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(from_schema(schema), st.data())
    def check(instance: dict[str, Any], data: st.DataObject) -> None:
        assume(follows_rules(message, instance))
        assert read_alike(message, as_bytes(instance))
        for spot in spots(instance, schema, schema):
            value = data.draw(st.sampled_from(mutations(spot, schema)), label=str(spot.path))
            read_alike(message, as_bytes(mutate(instance, spot, value)))

    check()


@pytest.mark.parametrize("message", INBOUND, ids=lambda m: m.type)
def test_one_pass_agrees_on_every_change_to_the_example(
    message: contract.MessageContract,
) -> None:
    schema = load(message)
    (example,) = schema["examples"]
    assert read_alike(message, as_bytes(example))
    refused = 0
    for spot in spots(example, schema, schema):
        for value in mutations(spot, schema):
            refused += not read_alike(message, as_bytes(mutate(example, spot, value)))
    assert refused >= 20  # the changes reach the refusals, not only what decodes anyway
    data = json.dumps(example["data"]).encode()
    for template in ODD_JSON:
        read_alike(message, template.replace(b"TYPE", message.type.encode()).replace(b"DATA", data))
    without_time = {k: v for k, v in example.items() if k != "time"}
    assert read_alike(message, as_bytes(without_time))  # the record's timestamp stands in


def test_one_pass_reads_binary_mode_and_leaves_a_type_the_topic_does_not_carry() -> None:
    message = next(m for m in INBOUND if m.type == "lmp.usage.reported")
    (example,) = load(message)["examples"]
    allowed = frozenset(CATALOGUE[message.topic].types)
    binary = InboundMessage(
        message.topic,
        0,
        0,
        None,
        json.dumps(example["data"]).encode(),
        1,
        (
            ("ce_specversion", b"1.0"),
            ("ce_id", b"b1"),
            ("ce_source", b"s"),
            ("ce_type", message.type.encode()),
            ("content-type", b"application/json"),
        ),
    )
    fast = _one_pass(binary, allowed)
    assert fast is not None
    assert fast.envelope.id == "b1"
    assert isinstance(decode(binary, allowed), Decoded)
    other = as_bytes({**example, "type": "lmp.pricing.price"})
    assert _one_pass(one_record(message, other), allowed) is None
