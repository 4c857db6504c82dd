"""Refusals, kept under ``<topic>|<message id>``: of actions on reports that do not
exist, so a later delivery of the same action is answered the same even once the report
exists, and of actions on reports they changed nothing in, so the report does not grow
with them (docs/bounded-reports.md)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pymongo.errors import BulkWriteError

from schemas.report import OrphanOutcome
from services.adapters.store.documents import duplicate_indexes
from services.adapters.store.rules import check_document


class OrphanOutcomes:
    """The ``outcomes`` collection's part of the store."""

    outcomes: Any

    async def load_outcomes(self, keys: Iterable[str]) -> dict[str, OrphanOutcome]:
        """Recorded answers to actions on missing reports, by ``<topic>|<message id>``."""
        wanted = list(set(keys))
        if not wanted:
            return {}
        docs = await self.outcomes.find({"_id": {"$in": wanted}}).to_list(None)
        return {doc["_id"]: OrphanOutcome.model_validate(doc) for doc in docs}

    async def record_outcomes(self, outcomes: Sequence[OrphanOutcome]) -> set[str]:
        """Insert each outcome once; return the keys that already had one."""
        if not outcomes:
            return set()
        docs = [o.model_dump(mode="python", by_alias=True) for o in outcomes]
        for doc in docs:
            check_document(doc, f"answer {doc['_id']}")
        try:
            await self.outcomes.insert_many(docs, ordered=False)
            return set()
        except BulkWriteError as exc:
            return {outcomes[i].key for i in duplicate_indexes(exc)}
