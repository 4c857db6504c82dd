"""The few MongoDB query semantics the in-memory store (and the keyset's narrowing of a
listed field) needs, written out: a filter's equality, ranges, ``$in``, ``$exists``,
``$ne``, ``$or`` and ``$and`` (null matching a missing field, a range never matching
null), projections (a dotted path reaching into an array of documents), sorts (null
first), and the BSON round trip that gives a stored document the database's types (dates
to the millisecond, in UTC)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import bson
from bson.codec_options import CodecOptions

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
_CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)
_RANGES: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
_MISSING = object()


def stored(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` as the database would give it back; raises what the driver raises for a
    document it cannot store."""
    data = bson.encode(doc)
    if len(data) > MAX_DOCUMENT_BYTES:
        from pymongo.errors import DocumentTooLarge

        raise DocumentTooLarge(f"BSON document too large ({len(data)} bytes)")
    decoded: dict[str, Any] = bson.decode(data, codec_options=_CODEC)
    return decoded


def matches(doc: Mapping[str, Any], criteria: Mapping[str, Any]) -> bool:
    for key, wanted in criteria.items():
        if key == "$or":
            if not any(matches(doc, alternative) for alternative in wanted):
                return False
        elif key == "$and":
            if not all(matches(doc, part) for part in wanted):
                return False
        elif not _field_matches(_lookup(doc, key), wanted):
            return False
    return True


def _field_matches(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, Mapping) and wanted and all(k.startswith("$") for k in wanted):
        return all(_operator_matches(value, op, arg) for op, arg in wanted.items())
    return _equal(value, wanted)


def _operator_matches(value: Any, op: str, arg: Any) -> bool:
    if op == "$in":
        return any(_equal(value, candidate) for candidate in arg)
    if op == "$exists":
        return (value is not _MISSING) == bool(arg)
    if op == "$ne":
        return not _equal(value, arg)
    compare = _RANGES.get(op)
    if compare is None:
        raise NotImplementedError(f"the in-memory store does not know {op}")
    if value is _MISSING or value is None:
        return False
    try:
        return compare(value, arg)
    except TypeError:  # MongoDB compares within one type only
        return False


def _equal(value: Any, wanted: Any) -> bool:
    if wanted is None:
        return value is None or value is _MISSING
    return value is not _MISSING and value == wanted


def _lookup(doc: Mapping[str, Any], path: str) -> Any:
    current: Any = doc
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def project(doc: dict[str, Any], projection: Mapping[str, int] | None) -> dict[str, Any]:
    """An exclusion projection drops its fields; an inclusion one keeps them and ``_id``
    (``a.b`` keeps ``b`` of the document ``a``, or of each document in the array ``a``)."""
    if not projection:
        return doc
    if all(not keep for keep in projection.values()):
        return {k: v for k, v in doc.items() if k not in projection}
    return _included(doc, [path.split(".") for path, keep in projection.items() if keep], True)


def _included(doc: Mapping[str, Any], paths: list[list[str]], top: bool) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in doc.items():
        below = [path[1:] for path in paths if path[0] == key]
        if (top and key == "_id") or [] in below:
            kept[key] = value
        elif below and isinstance(value, Mapping):
            kept[key] = _included(value, below, False)
        elif below and isinstance(value, list):
            kept[key] = [_included(v, below, False) for v in value if isinstance(v, Mapping)]
    return kept


def ordered(
    docs: Iterable[dict[str, Any]], order: Iterable[tuple[str, int]]
) -> list[dict[str, Any]]:
    """``docs`` sorted on each (field, direction), nulls and missing fields first."""
    result = list(docs)
    for field, direction in reversed(list(order)):
        result.sort(key=_sort_key(field), reverse=direction < 0)
    return result


def _sort_key(field: str) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    def key(doc: Mapping[str, Any]) -> tuple[int, Any]:
        value = doc.get(field)
        return (0, 0) if value is None else (1, value)

    return key
