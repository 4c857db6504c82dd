"""The committed JSON Schemas are the ones the models generate, and say what the decoder does."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from services.adapters import contract
from services.adapters.catalogue import Catalogue
from services.adapters.codec import Decoded, InboundMessage, Poison, decode
from services.cli import main
from services.settings import PROJECT_ROOT

pytestmark = pytest.mark.unit

CATALOGUE = Catalogue.load(PROJECT_ROOT / "topics.yaml")
COMMITTED = PROJECT_ROOT / "schemas" / "json"
MESSAGES = contract.messages(CATALOGUE)
INBOUND = [m for m in MESSAGES if m.inbound]
OUTBOUND = [m for m in MESSAGES if not m.inbound]


def committed(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((COMMITTED / name).read_text())
    return loaded


def record(message: contract.MessageContract, event: dict[str, Any], ts: int) -> InboundMessage:
    return InboundMessage(message.topic, 0, 7, b"k", json.dumps(event).encode(), timestamp_ms=ts)


def test_the_committed_schemas_are_what_the_models_generate() -> None:
    expected = contract.render(CATALOGUE)
    on_disk = {path.name: path.read_text() for path in COMMITTED.glob("*.json")}
    drift = sorted(
        name for name in set(expected) | set(on_disk) if on_disk.get(name) != expected.get(name)
    )
    assert drift == [], (
        f"schemas/json/ is out of date with the models ({', '.join(drift)} differ, are "
        "missing or are no longer in the contract). Run `lmp-billing schemas export` and "
        "commit schemas/json/."
    )


def test_every_schema_is_a_valid_2020_12_schema_with_its_own_stable_id() -> None:
    ids = []
    for name in [*(m.file for m in MESSAGES), contract.REPORT_SCHEMA]:
        schema = committed(name)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == f"https://lmp-billing.example/schemas/{name}"
        ids.append(schema["$id"])
    assert len(ids) == len(set(ids))
    index = committed(contract.INDEX)
    assert {m["type"] for m in index["messages"]} == CATALOGUE.all_types()


@pytest.mark.parametrize("message", INBOUND, ids=lambda m: m.type)
def test_an_inbound_schema_requires_specversion_pins_its_type_and_leaves_time_optional(
    message: contract.MessageContract,
) -> None:
    schema = committed(message.file)
    assert set(schema["required"]) == {"specversion", "id", "source", "type", "data"}
    assert schema["properties"]["specversion"]["const"] == "1.0"
    assert schema["properties"]["type"]["const"] == message.type
    assert "time" in schema["properties"]


@pytest.mark.parametrize("message", OUTBOUND, ids=lambda m: m.type)
def test_an_outbound_schema_says_every_attribute_is_written(
    message: contract.MessageContract,
) -> None:
    schema = committed(message.file)
    assert {"specversion", "id", "source", "type", "time", "data"} <= set(schema["required"])
    assert schema["properties"]["type"]["const"] == message.type
    assert "examples" not in schema


def test_an_inbound_schema_refuses_another_type_which_the_old_schemas_accepted() -> None:
    usage = committed("lmp.usage.reported.json")
    event = dict(usage["examples"][0], type="lmp.pricing.price")
    assert not Draft202012Validator(usage).is_valid(event)


@pytest.mark.parametrize("message", INBOUND, ids=lambda m: m.type)
def test_each_inbound_example_is_valid_and_decodes(message: contract.MessageContract) -> None:
    schema = committed(message.file)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    (example,) = schema["examples"]
    validator.validate(example)
    spec = CATALOGUE[message.topic]
    result = decode(record(message, example, 1), frozenset(spec.types))
    assert isinstance(result, Decoded), result


def test_a_missing_time_is_the_records_timestamp() -> None:
    message = next(m for m in INBOUND if m.type == "lmp.usage.reported")
    event = contract.example_event(message.type)
    types = frozenset(CATALOGUE[message.topic].types)
    written = datetime(2026, 11, 20, 9, 30, 1, 250000, tzinfo=UTC)
    ms = int(written.timestamp() * 1000)
    for without in ({k: v for k, v in event.items() if k != "time"}, {**event, "time": None}):
        result = decode(record(message, without, ms), types)
        assert isinstance(result, Decoded)
        assert result.envelope.time == written
    given = decode(record(message, event, ms), types)
    assert isinstance(given, Decoded)
    assert given.envelope.time == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    no_timestamp = decode(record(message, {**event, "time": None}, 0), types)
    assert isinstance(no_timestamp, Decoded)
    assert no_timestamp.envelope.time is None


@pytest.mark.parametrize(
    "time", [1_700_000_000, "1700000000", "2026-11-20", "2026-11-20 09:30:00Z", "2026-11-20T09:30"]
)
def test_a_time_that_is_not_rfc_3339_is_refused_by_schema_and_decoder(time: object) -> None:
    message = next(m for m in INBOUND if m.type == "lmp.usage.reported")
    event = {**contract.example_event(message.type), "time": time}
    validator = Draft202012Validator(
        committed(message.file), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    assert not validator.is_valid(event)
    result = decode(record(message, event, 1), frozenset(CATALOGUE[message.topic].types))
    assert isinstance(result, Poison)
    assert result.kind == "schema"


def test_export_writes_the_contract_and_removes_schemas_of_types_gone_from_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lmp.retired.type.json").write_text("{}")
    (tmp_path / "notes.json").write_text("{}")
    assert main(["schemas", "export", str(tmp_path)]) == 0
    assert "wrote 29 files" in capsys.readouterr().out
    written = {path.name: path.read_text() for path in tmp_path.glob("*.json")}
    assert written == {**contract.render(CATALOGUE), "notes.json": "{}"}
