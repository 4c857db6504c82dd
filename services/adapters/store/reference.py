"""Reference data the processors decide with: prices, promotional codes, partner and
distributor accounts, and region settings. Each is replaced whole by its latest
message; a withdrawn account is kept, marked."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from schemas.accounts import DistributorAccount, PartnerAccount, RegionSettings
from schemas.pricing import PriceListed, PromotionPublished
from services.adapters.store.documents import valid


class ReferenceData:
    """The ``prices``, ``promotions``, ``partners``, ``distributors`` and ``regions``
    collections' part of the store."""

    prices: Any
    promotions: Any
    partners: Any
    distributors: Any
    regions: Any

    # pricing -----------------------------------------------------------------

    async def save_price(self, price: PriceListed, at: datetime) -> None:
        key = f"{price.region}|{price.product_id}"
        await self.prices.replace_one(
            {"_id": key},
            {"_id": key, **price.model_dump(mode="json"), "updated_at": at},
            upsert=True,
        )

    async def save_promotion(self, promo: PromotionPublished, at: datetime) -> None:
        doc = promo.model_dump(mode="python")
        await self.promotions.replace_one(
            {"_id": promo.code}, {"_id": promo.code, **doc, "updated_at": at}, upsert=True
        )

    async def price_lists(self, regions: Iterable[str | None]) -> dict[str, dict[str, PriceListed]]:
        """Price list per region, by product id."""
        wanted = [r for r in set(regions) if r]
        out: dict[str, dict[str, PriceListed]] = {r: {} for r in wanted}
        if wanted:
            async for doc in self.prices.find({"region": {"$in": wanted}}):
                price = valid(PriceListed, doc, "price")
                if price is not None:
                    out[price.region][price.product_id] = price
        return out

    async def load_promotions(self, codes: Iterable[str]) -> dict[str, PromotionPublished]:
        wanted = list(set(codes))
        if not wanted:
            return {}
        docs = await self.promotions.find({"_id": {"$in": wanted}}).to_list(None)
        found = {doc["_id"]: valid(PromotionPublished, doc, "promotion") for doc in docs}
        return {code: promo for code, promo in found.items() if promo is not None}

    async def delete_price(self, region: str, product_id: str) -> bool:
        result = await self.prices.delete_one({"_id": f"{region}|{product_id}"})
        return bool(result.deleted_count)

    async def delete_promotion(self, code: str) -> None:
        await self.promotions.delete_one({"_id": code})

    # accounts ----------------------------------------------------------------

    async def save_partner(self, account: PartnerAccount, at: datetime) -> None:
        await self.partners.replace_one(
            {"_id": account.partner_id},
            {"_id": account.partner_id, **account.model_dump(mode="json"), "updated_at": at},
            upsert=True,
        )

    async def save_distributor(self, account: DistributorAccount, at: datetime) -> None:
        await self.distributors.replace_one(
            {"_id": account.distributor_id},
            {"_id": account.distributor_id, **account.model_dump(mode="json"), "updated_at": at},
            upsert=True,
        )

    async def withdraw_account(self, account_id: str, at: datetime) -> None:
        """A tombstone: the partner or distributor of that id is withdrawn (kept, marked)."""
        marked = {"$set": {"withdrawn_at": at, "updated_at": at}}
        await asyncio.gather(
            self.partners.update_one({"_id": account_id}, marked),
            self.distributors.update_one({"_id": account_id}, marked),
        )

    async def load_partners(self, partner_ids: Iterable[str]) -> dict[str, PartnerAccount]:
        """Partner accounts in force (not withdrawn), by id."""
        docs = await self.partners.find(
            {"_id": {"$in": list(set(partner_ids))}, "withdrawn_at": None}
        ).to_list(None)
        found = {doc["_id"]: valid(PartnerAccount, doc, "partner") for doc in docs}
        return {pid: account for pid, account in found.items() if account is not None}

    # regions -----------------------------------------------------------------

    async def save_region(self, region: RegionSettings, at: datetime) -> None:
        await self.regions.replace_one(
            {"_id": region.region},
            {"_id": region.region, **region.model_dump(mode="json"), "updated_at": at},
            upsert=True,
        )

    async def delete_region(self, region: str) -> None:
        await self.regions.delete_one({"_id": region})

    async def load_regions(self, regions: Iterable[str | None]) -> dict[str, RegionSettings]:
        wanted = [r for r in set(regions) if r]
        if not wanted:
            return {}
        docs = await self.regions.find({"_id": {"$in": wanted}}).to_list(None)
        found = {doc["_id"]: valid(RegionSettings, doc, "region") for doc in docs}
        return {code: region for code, region in found.items() if region is not None}
