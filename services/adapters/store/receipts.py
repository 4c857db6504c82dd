"""Receipts: the (message key, payload hash) of every inbound message, so a redelivery
is told from a different message reusing a known id (a conflict)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo.errors import BulkWriteError

from services.adapters.store.documents import duplicate_indexes


class Receipts:
    """The ``receipts`` collection's part of the store (and the retention of ``outcomes``,
    which are forgotten on the same horizon)."""

    receipts: Any
    outcomes: Any

    async def record_receipts(
        self, receipts: Sequence[tuple[str, str]], at: datetime
    ) -> dict[str, str]:
        """Remember (message key, payload hash); return the hashes of keys seen before."""
        if not receipts:
            return {}
        try:
            await self.receipts.insert_many(
                [{"_id": key, "hash": digest, "at": at} for key, digest in receipts],
                ordered=False,
            )
            return {}
        except BulkWriteError as exc:
            seen_keys = [receipts[i][0] for i in duplicate_indexes(exc)]
        docs = await self.receipts.find({"_id": {"$in": seen_keys}}).to_list(None)
        return {doc["_id"]: doc["hash"] for doc in docs}

    async def purge_receipts(self, before: datetime, limit: int) -> int:
        """Forget receipts (and answers to actions on missing reports) older than ``before``."""
        deleted = 0
        for collection in (self.receipts, self.outcomes):
            docs = (
                await collection.find({"at": {"$lt": before}}, {"_id": 1})
                .limit(limit)
                .to_list(None)
            )
            if docs:
                result = await collection.delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
                deleted += int(result.deleted_count)
        return deleted
