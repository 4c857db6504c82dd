"""The production database's rules, checked before every write.

The embedded server accepts some documents MongoDB refuses (see docs/database.md), so
a report that works in the tests could become unwritable in production. Every document
the store writes is checked here first; one that breaks a rule raises
``DocumentRefused``, a permanent error (``services/adapters/failures.py`` retries only
what can succeed), so the runtime sets the report aside with the reason instead of
retrying it for ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
"""MongoDB's largest document (``maxBsonObjectSize``), measured as encoded BSON."""

MAX_NESTING = 100
"""MongoDB stores no more than 100 levels of nested documents and arrays."""


class DocumentRefused(ValueError):
    """A document MongoDB would refuse (or store beyond reach of queries and updates).

    Permanent: the same document is refused on every retry."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what} cannot be stored: {reason}")
        self.reason = reason


def check_document(doc: Mapping[str, Any], what: str = "document") -> int:
    """Raise ``DocumentRefused`` unless MongoDB would store ``doc`` as written; its size.

    The rules (the strictest of an insert and a whole-document replacement, since a
    report is inserted once and replaced on every change):

    - encoded BSON of at most 16 MiB;
    - at most 100 levels of nested documents and arrays;
    - field names that are strings, not empty, without a NUL character, not starting
      with ``$`` and without ``.``: MongoDB 5+ stores ``$``-prefixed and dotted names
      below the top level, but a replacement refuses a top-level ``$`` name, neither can
      be indexed, nor reached by a query or an update path without ``$getField``, nor
      used under ``_id``; an empty name cannot be reached by a path either.
    """
    _check_names(dict(doc), what, 1)
    size = len(bson.encode(doc))
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentRefused(
            what, f"{size:,} bytes of BSON, over MongoDB's limit of {MAX_DOCUMENT_BYTES:,}"
        )
    return size


def encoded(doc: Mapping[str, Any], what: str = "document") -> RawBSONDocument:
    """``doc`` encoded once, refused (``DocumentRefused``) when over 16 MiB; the driver
    sends these bytes as they are, so the check costs no second encoding.

    For documents dumped from a model whose field names are all its own (no mapping
    with free keys, no recursion): the names and the depth are then the model's, which
    ``tests/unit/test_store_rules.py`` checks once for ``Report``; walking every report
    on every write would cost more than dumping it.
    """
    data = bson.encode(doc)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentRefused(
            what, f"{len(data):,} bytes of BSON, over MongoDB's limit of {MAX_DOCUMENT_BYTES:,}"
        )
    return RawBSONDocument(data)


def _check_names(value: Any, what: str, depth: int) -> None:
    """Walk the documents and arrays (plain dicts and lists, as models dump them)."""
    if depth > MAX_NESTING:
        raise DocumentRefused(what, f"nested deeper than MongoDB's {MAX_NESTING} levels")
    if isinstance(value, dict):
        for key in value:
            if type(key) is not str or not key or key[0] == "$" or "." in key or "\0" in key:
                _refuse_name(key, what)
        items = value.values()
    else:
        items = value
    for item in items:
        if isinstance(item, dict | list | tuple):
            _check_names(item, what, depth + 1)


def _refuse_name(key: Any, what: str) -> None:
    if not isinstance(key, str):
        raise DocumentRefused(what, f"field name {key!r} is not a string")
    if not key:
        raise DocumentRefused(what, "an empty field name")
    if "\0" in key:
        raise DocumentRefused(what, f"field name {key!r} contains a NUL character")
    if key.startswith("$"):
        raise DocumentRefused(what, f"field name {key!r} starts with '$'")
    raise DocumentRefused(what, f"field name {key!r} contains '.'")
