"""The in-memory store's reference data, receipts, API keys and counters: the parts of
``MemoryStore`` that mirror the MongoDB store's reference, receipt, key and counter modules."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from schemas.accounts import DistributorAccount, PartnerAccount, RegionSettings
from schemas.api import ApiKey
from schemas.pricing import PriceListed, PromotionPublished
from services.adapters.store.counters import COUNTED
from services.adapters.store.documents import DUPLICATE_KEY, valid
from services.adapters.store.memory_collections import MemoryCollections

Collection = dict[Any, dict[str, Any]]


class MemoryReferenceData(MemoryCollections):
    # reference data -------------------------------------------------------------

    async def save_price(self, price: PriceListed, at: datetime) -> None:
        key = f"{price.region}|{price.product_id}"
        await self._replace("prices", {"_id": key, **price.model_dump(mode="json")}, at)

    async def save_promotion(self, promo: PromotionPublished, at: datetime) -> None:
        await self._replace("promotions", {"_id": promo.code, **promo.model_dump()}, at)

    async def save_partner(self, account: PartnerAccount, at: datetime) -> None:
        doc = {"_id": account.partner_id, **account.model_dump(mode="json")}
        await self._replace("partners", doc, at)

    async def save_distributor(self, account: DistributorAccount, at: datetime) -> None:
        doc = {"_id": account.distributor_id, **account.model_dump(mode="json")}
        await self._replace("distributors", doc, at)

    async def save_region(self, region: RegionSettings, at: datetime) -> None:
        await self._replace("regions", {"_id": region.region, **region.model_dump(mode="json")}, at)

    async def _replace(self, name: str, doc: dict[str, Any], at: datetime) -> None:
        await asyncio.sleep(0)
        self._put(name, {**doc, "updated_at": at})

    async def withdraw_account(self, account_id: str, at: datetime) -> None:
        await asyncio.sleep(0)
        for name in ("partners", "distributors"):
            doc = self.collection(name).get(account_id)
            if doc is not None:
                self._put(name, {**doc, "withdrawn_at": at, "updated_at": at})

    async def delete_price(self, region: str, product_id: str) -> bool:
        await asyncio.sleep(0)
        return self.collection("prices").pop(f"{region}|{product_id}", None) is not None

    async def delete_promotion(self, code: str) -> None:
        await asyncio.sleep(0)
        self.collection("promotions").pop(code, None)

    async def delete_region(self, region: str) -> None:
        await asyncio.sleep(0)
        self.collection("regions").pop(region, None)

    async def price_lists(self, regions: Iterable[str | None]) -> dict[str, dict[str, PriceListed]]:
        await asyncio.sleep(0)
        wanted = [r for r in set(regions) if r]
        out: dict[str, dict[str, PriceListed]] = {r: {} for r in wanted}
        for doc in self._find("prices", {"region": {"$in": wanted}}):
            price = valid(PriceListed, doc, "price")
            if price is not None:
                out[price.region][price.product_id] = price
        return out

    async def load_promotions(self, codes: Iterable[str]) -> dict[str, PromotionPublished]:
        return await self._load("promotions", {"_id": {"$in": list(set(codes))}})

    async def load_partners(self, partner_ids: Iterable[str]) -> dict[str, PartnerAccount]:
        criteria = {"_id": {"$in": list(set(partner_ids))}, "withdrawn_at": None}
        return await self._load("partners", criteria)

    async def load_regions(self, regions: Iterable[str | None]) -> dict[str, RegionSettings]:
        return await self._load("regions", {"_id": {"$in": [r for r in set(regions) if r]}})

    async def _load(self, name: str, criteria: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        model, what = _MODELS[name]
        found = {doc["_id"]: valid(model, doc, what) for doc in self._find(name, criteria)}
        return {key: item for key, item in found.items() if item is not None}

    # receipts ------------------------------------------------------------------

    async def record_receipts(
        self, receipts: Sequence[tuple[str, str]], at: datetime
    ) -> dict[str, str]:
        await asyncio.sleep(0)
        docs = [{"_id": key, "hash": digest, "at": at} for key, digest in receipts]
        seen = [receipts[i][0] for i in self._insert_once("receipts", docs)]
        return {key: self.collection("receipts")[key]["hash"] for key in seen}

    async def purge_receipts(self, before: datetime, limit: int) -> int:
        await asyncio.sleep(0)
        deleted = 0
        for name in ("receipts", "outcomes"):
            for doc in self._find(name, {"at": {"$lt": before}})[:limit]:
                del self.collection(name)[doc["_id"]]
                deleted += 1
        return deleted

    # API keys ------------------------------------------------------------------------

    async def save_api_key(self, key: ApiKey) -> None:
        await asyncio.sleep(0)
        if self._insert_once("api_keys", [key.model_dump(by_alias=True)]):
            raise DuplicateKeyError(f"E11000 duplicate key: {key.key_id}", DUPLICATE_KEY)

    async def load_api_key(self, key_id: str) -> ApiKey | None:
        await asyncio.sleep(0)
        docs = self._find("api_keys", {"_id": key_id})
        return ApiKey.model_validate(docs[0]) if docs else None

    async def list_api_keys(self) -> list[ApiKey]:
        await asyncio.sleep(0)
        return [ApiKey.model_validate(d) for d in self._find("api_keys", {}, [("created_at", 1)])]

    async def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        await asyncio.sleep(0)
        doc = self.collection("api_keys").get(key_id)
        if doc is None or doc.get("revoked_at") is not None:
            return False
        self._put("api_keys", {**doc, "revoked_at": at})
        return True

    # counters ------------------------------------------------------------------------

    async def add_counters(self, processor: str, deltas: Mapping[tuple[str, str], int]) -> None:
        await asyncio.sleep(0)
        metrics = self.collection("metrics")
        for (topic, name), value in deltas.items():
            key = f"{processor}|{topic}|{name}"
            total = metrics.get(key, {}).get("value", 0) + value
            doc = {"processor": processor, "topic": topic, "name": name, "value": total}
            self._put("metrics", {"_id": key, **doc})

    async def load_counters(self) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        return self._find("metrics", {})

    async def count_reports_by_status(self) -> dict[tuple[str, str | None], int]:
        await asyncio.sleep(0)
        pairs = [(s.value, k.value if k else None) for s, k in COUNTED]
        return {
            (s, k): len(self._find("reports", {"status": s, "submission_kind": k}))
            for s, k in pairs
        }


_MODELS: dict[str, tuple[type[Any], str]] = {
    "promotions": (PromotionPublished, "promotion"),
    "partners": (PartnerAccount, "partner"),
    "regions": (RegionSettings, "region"),
}
