"""The production database's rules, checked by the store before any write."""

from __future__ import annotations

from typing import Any

import bson
import pytest

from schemas.report import Report
from services.adapters.failures import describe, is_transient
from services.adapters.store.rules import (
    MAX_DOCUMENT_BYTES,
    MAX_NESTING,
    DocumentRefused,
    check_document,
    encoded,
)

pytestmark = pytest.mark.unit


def nested(levels: int) -> dict[str, Any]:
    """A document of ``levels`` levels (itself the first), documents and arrays by turns."""
    value: Any = {"leaf": 1}
    for i in range(levels - 1, 0, -1):
        value = [value] if i % 2 == 0 else {"down": value}
    assert isinstance(value, dict)
    return value


def test_a_document_up_to_16_mib_passes_and_its_size_is_told() -> None:
    padding = MAX_DOCUMENT_BYTES - 100
    size = check_document({"_id": "a", "x": "y" * padding})
    assert padding < size <= MAX_DOCUMENT_BYTES


def test_a_document_over_16_mib_is_refused_with_its_size() -> None:
    with pytest.raises(DocumentRefused, match=r"over MongoDB's limit of 16,777,216"):
        check_document({"_id": "a", "x": "y" * MAX_DOCUMENT_BYTES}, "report a")


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty field name"),
        ("a\0b", "NUL character"),
        ("$set", "starts with '\\$'"),
        ("price.usd", "contains '\\.'"),
        (7, "not a string"),
    ],
)
@pytest.mark.parametrize("where", ["top", "nested", "in an array"])
def test_field_names_mongodb_refuses_or_cannot_reach_are_refused(
    key: Any, reason: str, where: str
) -> None:
    doc: dict[str, Any] = {key: 1}
    if where == "nested":
        doc = {"lines": doc}
    elif where == "in an array":
        doc = {"lines": [{"ok": 1}, doc]}
    with pytest.raises(DocumentRefused, match=reason):
        check_document({"_id": "r", **doc}, "report r")


def test_names_with_a_dollar_or_a_dot_inside_values_are_only_values() -> None:
    check_document({"_id": "r", "note": "$set a.b", "lines": [{"comment": "x.y$"}]})
    check_document({"_id": "r", "price$usd": 1})  # a '$' past the first character


def test_nesting_up_to_100_levels_passes_and_deeper_is_refused() -> None:
    check_document(nested(MAX_NESTING))
    with pytest.raises(DocumentRefused, match="deeper than MongoDB's 100 levels"):
        check_document(nested(MAX_NESTING + 1))


def test_a_refused_document_is_a_permanent_failure_with_a_reason() -> None:
    with pytest.raises(DocumentRefused) as refused:
        check_document({"_id": "r", "": 1}, "report r")
    assert not is_transient(refused.value)
    told = "DocumentRefused: report r cannot be stored: an empty field name"
    assert describe(refused.value) == told


def test_a_reports_field_names_and_depth_are_its_models_own() -> None:
    """Report writes check only their size (``encoded``): their names and depth are the
    model's, valid by construction as long as no field is a mapping with free keys and no
    model nests itself. This holds that assumption."""
    schema = Report.model_json_schema()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            extra = node.get("additionalProperties")
            assert extra in (None, False), f"a field with free keys: {node}"
            for key in node.get("properties", {}):
                check_document({key: 1}, "Report field")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    for name, definition in schema.get("$defs", {}).items():
        assert f"#/$defs/{name}" not in str(definition), f"{name} nests itself"


def test_a_report_over_16_mib_is_refused_when_encoded_once() -> None:
    big = {"_id": "r", "rejection_reasons": ["y" * (9 * 1024 * 1024)] * 2}
    with pytest.raises(DocumentRefused, match="over MongoDB's limit"):
        encoded(big, "report r")
    assert encoded({"_id": "r"}).raw == bson.encode({"_id": "r"})  # the bytes sent
