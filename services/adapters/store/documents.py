"""What every part of the MongoDB store shares: reading stored documents back, and
telling a duplicate key (an answer) from every other write error (a failure)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pymongo.errors import BulkWriteError, WriteConcernError

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000


def valid(model: Any, doc: dict[str, Any], what: str) -> Any:
    """A stored reference document, or None (logged) when it no longer passes its model:
    one bad document must not stop every report that would read it."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        log.error("ignoring stored %s %r: %s", what, doc.get("_id"), exc.errors()[:3])
        return None


def duplicate_indexes(exc: BulkWriteError) -> list[int]:
    """The positions of an unordered insert that hit an existing key; re-raises ``exc``
    when anything else failed."""
    errors = exc.details.get("writeErrors", [])
    if any(err.get("code") != DUPLICATE_KEY for err in errors):
        raise exc
    return [err["index"] for err in errors]


def acknowledged(bulk_result: Mapping[str, Any]) -> None:
    """A bulk write the server applied but could not make durable as asked is not done:
    raise it, to be retried (``writeConcernErrors`` do not raise by themselves)."""
    problems = bulk_result.get("writeConcernErrors")
    if problems:
        raise WriteConcernError(str(problems[0].get("errmsg", "write concern failed")), 64)


BULK_SLICE = 99
"""Operations per write command: FerretDB 1.x hangs on an update command of 100
statements (docs/ferretdb.md); on MongoDB it costs a round trip per 99."""


async def bulk_write(collection: Any, ops: Sequence[Any]) -> dict[str, Any]:
    """``collection.bulk_write(ops, ordered=False)`` in slices, answered as one result
    (``bulk_api_result``'s shape; a ``BulkWriteError`` carrying every slice's errors)."""
    counts = ("nInserted", "nMatched", "nModified", "nUpserted")
    total: dict[str, Any] = dict.fromkeys(counts, 0) | {
        "writeErrors": [],
        "writeConcernErrors": [],
    }
    for start in range(0, len(ops), BULK_SLICE):
        try:
            part = await collection.bulk_write(ops[start : start + BULK_SLICE], ordered=False)
            answer = part.bulk_api_result
        except BulkWriteError as exc:
            answer = exc.details
        for key in counts:
            total[key] += answer.get(key, 0)
        total["writeErrors"] += [
            {**error, "index": error["index"] + start} for error in answer.get("writeErrors", [])
        ]
        total["writeConcernErrors"] += answer.get("writeConcernErrors", [])
    if total["writeErrors"]:
        raise BulkWriteError(total)
    return total
