"""Events the broker can never accept (too large, not authorized), held with the reason
until an operator retries them (``lmp-billing outbox list|retry``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, ReplaceOne

from schemas.report import OutboxEntry
from services.adapters.store.documents import bulk_write


class Quarantine:
    """The ``quarantine`` collection's part of the store."""

    quarantine: Any

    async def quarantine_events(self, entries: Sequence[tuple[OutboxEntry, str]]) -> None:
        await bulk_write(
            self.quarantine,
            [
                ReplaceOne(
                    {"_id": entry.id},
                    {"_id": entry.id, **entry.model_dump(), "reason": reason},
                    upsert=True,
                )
                for entry, reason in entries
            ],
        )

    async def quarantined(self) -> list[tuple[OutboxEntry, str]]:
        docs = await self.quarantine.find({}).sort([("_id", ASCENDING)]).to_list(None)
        return [(OutboxEntry.model_validate(doc), str(doc.get("reason", ""))) for doc in docs]

    async def release_quarantined(self, event_ids: Sequence[str]) -> None:
        if event_ids:
            await self.quarantine.delete_many({"_id": {"$in": list(event_ids)}})
