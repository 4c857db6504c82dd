"""What every part of the MongoDB store shares: reading stored documents back, and
telling a duplicate key (an answer) from every other write error (a failure)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
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
