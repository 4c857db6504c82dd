"""The one module that talks to MongoDB.

Reports are written whole, conditionally on the version that was read, so two
processors racing on one report cannot both win; events are committed in the same
document (the outbox) so a crash between the write and the publish loses nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, InsertOne, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError

from schemas.accounts import DistributorAccount, PartnerAccount
from schemas.pricing import PriceListed, PromotionPublished
from schemas.report import Report
from services.domain.status import EDITABLE_BY_PARTNER
from services.settings import MongoDriver, Settings

DUPLICATE_KEY = 11000
WRITER_STAMP = "_writer"

REPORT_INDEXES = [
    IndexModel(
        [("account_pending", ASCENDING), ("partner_id", ASCENDING)], name="pending_by_partner"
    ),
    IndexModel([("outbox_since", ASCENDING)], name="outbox_since"),
    IndexModel([("status", ASCENDING), ("deadline", ASCENDING)], name="status_deadline"),
    IndexModel([("next_reminder_at", ASCENDING)], name="next_reminder_at"),
    IndexModel(
        [("distributor_id", ASCENDING), ("cycle", DESCENDING), ("status", ASCENDING)],
        name="distributor_cycle_status",
    ),
    IndexModel([("partner_id", ASCENDING), ("cycle", DESCENDING)], name="partner_cycle"),
    IndexModel([("cycle", DESCENDING), ("status", ASCENDING)], name="cycle_status"),
]


def connect(settings: Settings) -> Store:
    """Build the store on the configured driver (motor by default, or PyMongo's async)."""
    client: Any
    if settings.mongodb_driver is MongoDriver.PYMONGO:
        from pymongo import AsyncMongoClient

        client = AsyncMongoClient(settings.mongodb_uri, tz_aware=True)
    else:
        from motor.motor_asyncio import AsyncIOMotorClient

        client = AsyncIOMotorClient(settings.mongodb_uri, tz_aware=True)
    return Store(client, settings.mongodb_database, settings.mongodb_driver)


class Store:
    def __init__(self, client: Any, database: str, driver: MongoDriver) -> None:
        self._client = client
        self._driver = driver
        db = client[database]
        self.db = db
        self.reports = db["reports"]
        self.partners = db["partners"]
        self.distributors = db["distributors"]
        self.receipts = db["receipts"]
        self.prices = db["prices"]
        self.promotions = db["promotions"]

    async def close(self) -> None:
        result = self._client.close()
        if self._driver is MongoDriver.PYMONGO:
            await result

    async def ping(self) -> None:
        await self.db.command("ping")

    async def ensure_indexes(self) -> None:
        await self.reports.create_indexes(REPORT_INDEXES)
        await self.partners.create_index([("distributor_id", ASCENDING)], name="by_distributor")
        await self.prices.create_index([("region", ASCENDING)], name="by_region")

    # reports -----------------------------------------------------------------

    async def load_reports(self, ids: Iterable[str]) -> dict[str, Report]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        docs = await self.reports.find({"_id": {"$in": wanted}}).to_list(None)
        return {doc["_id"]: Report.from_document(doc) for doc in docs}

    async def load_report(self, report_id: str) -> Report | None:
        doc = await self.reports.find_one({"_id": report_id})
        return None if doc is None else Report.from_document(doc)

    async def save_reports(self, changes: Sequence[tuple[Report, int | None]]) -> set[str]:
        """Write each report if its stored version is still the one it was read at.

        ``expected`` None means the report is new. Returns the ids that lost a race
        (the stored version moved, or someone else created it first): reload and retry.
        Two racers that read the same version write the same next version, so the
        version alone cannot tell who won: each call stamps its writes with a token.
        """
        if not changes:
            return set()
        token = uuid.uuid4().hex
        ops: list[Any] = []
        for report, expected in changes:
            doc = {**report.to_document(), WRITER_STAMP: token}
            if expected is None:
                ops.append(InsertOne(doc))
            else:
                ops.append(ReplaceOne({"_id": report.id, "version": expected}, doc))
        try:
            result = await self.reports.bulk_write(ops, ordered=False)
            done = result.inserted_count + result.matched_count
        except BulkWriteError as exc:
            details = exc.details
            if any(err.get("code") != DUPLICATE_KEY for err in details.get("writeErrors", [])):
                raise
            done = details.get("nInserted", 0) + details.get("nMatched", 0)
        if done == len(changes):
            return set()
        stored = await self.reports.find(
            {"_id": {"$in": [r.id for r, _ in changes]}}, {WRITER_STAMP: 1}
        ).to_list(None)
        ours = {doc["_id"] for doc in stored if doc.get(WRITER_STAMP) == token}
        return {r.id for r, _ in changes if r.id not in ours}

    async def pending_reports(self, partner_ids: Iterable[str]) -> list[Report]:
        docs = await self.reports.find(
            {"account_pending": True, "partner_id": {"$in": list(set(partner_ids))}}
        ).to_list(None)
        return [Report.from_document(doc) for doc in docs]

    async def reports_with_outbox(self, committed_before: datetime, limit: int) -> list[Report]:
        docs = (
            await self.reports.find({"outbox_since": {"$lte": committed_before}})
            .limit(limit)
            .to_list(None)
        )
        return [Report.from_document(doc) for doc in docs]

    async def clear_outboxes(self, published: Sequence[tuple[str, int]]) -> None:
        """Drop events once published; a report that moved on keeps its outbox for later."""
        if not published:
            return
        await self.reports.bulk_write(
            [
                UpdateOne(
                    {"_id": rid, "version": version},
                    {"$set": {"outbox": [], "outbox_since": None}},
                )
                for rid, version in published
            ],
            ordered=False,
        )

    async def due_for_auto_submission(self, now: datetime, limit: int) -> list[Report]:
        """Overdue reports the partner can still edit, from the status+deadline index.

        One equality+range query per status rather than one ``$in``: SecantusDB plans
        ``$in``+range as a collection scan (see the database probe).
        """
        found: list[Report] = []
        for status in sorted(EDITABLE_BY_PARTNER):
            if len(found) >= limit:
                break
            docs = (
                await self.reports.find({"status": status.value, "deadline": {"$lte": now}})
                .sort("deadline", ASCENDING)
                .limit(limit - len(found))
                .to_list(None)
            )
            found.extend(Report.from_document(doc) for doc in docs)
        return found

    async def due_for_reminder(self, now: datetime, limit: int) -> list[Report]:
        docs = (
            await self.reports.find({"next_reminder_at": {"$lte": now}}).limit(limit).to_list(None)
        )
        return [Report.from_document(doc) for doc in docs]

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
                price = PriceListed.model_validate(doc)
                out[price.region][price.product_id] = price
        return out

    async def load_promotions(self, codes: Iterable[str]) -> dict[str, PromotionPublished]:
        wanted = list(set(codes))
        if not wanted:
            return {}
        docs = await self.promotions.find({"_id": {"$in": wanted}}).to_list(None)
        return {doc["_id"]: PromotionPublished.model_validate(doc) for doc in docs}

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

    async def load_partners(self, partner_ids: Iterable[str]) -> dict[str, PartnerAccount]:
        docs = await self.partners.find({"_id": {"$in": list(set(partner_ids))}}).to_list(None)
        return {doc["_id"]: PartnerAccount.model_validate(doc) for doc in docs}

    # receipts ----------------------------------------------------------------

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
            errors = exc.details.get("writeErrors", [])
            if any(err.get("code") != DUPLICATE_KEY for err in errors):
                raise
            seen_keys = [receipts[err["index"]][0] for err in errors]
        docs = await self.receipts.find({"_id": {"$in": seen_keys}}).to_list(None)
        return {doc["_id"]: doc["hash"] for doc in docs}
