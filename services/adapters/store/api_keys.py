"""The read API's keys: only a hash of each secret is stored; a revoked key is kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from schemas.api import ApiKey


class ApiKeys:
    """The ``api_keys`` collection's part of the store."""

    api_keys: Any

    async def save_api_key(self, key: ApiKey) -> None:
        await self.api_keys.insert_one(key.model_dump(by_alias=True))

    async def load_api_key(self, key_id: str) -> ApiKey | None:
        doc = await self.api_keys.find_one({"_id": key_id})
        return None if doc is None else ApiKey.model_validate(doc)

    async def list_api_keys(self) -> list[ApiKey]:
        docs = await self.api_keys.find({}).sort([("created_at", ASCENDING)]).to_list(None)
        return [ApiKey.model_validate(doc) for doc in docs]

    async def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        result = await self.api_keys.update_one(
            {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
        )
        return bool(result.modified_count)
