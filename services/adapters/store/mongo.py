"""The store on MongoDB: one object holding the database's collections, composed of a
part per aggregate (each part's module says what it keeps and why)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from services.adapters.store.api_keys import ApiKeys
from services.adapters.store.archive import ARCHIVE_INDEXES
from services.adapters.store.counters import Metrics
from services.adapters.store.outcomes import OrphanOutcomes
from services.adapters.store.quarantine import Quarantine
from services.adapters.store.queries import PageEnds, ReadQueries, RecentTotals
from services.adapters.store.receipts import Receipts
from services.adapters.store.reference import ReferenceData
from services.adapters.store.reports import REPORT_INDEXES, ReportDocuments
from services.settings import MongoDriver


class Store(
    ReportDocuments,
    OrphanOutcomes,
    Quarantine,
    ReferenceData,
    Receipts,
    ApiKeys,
    Metrics,
    ReadQueries,
):
    """The one object that talks to MongoDB. Its collections stay public attributes:
    tests, benchmarks and the demo read them directly."""

    def __init__(
        self, client: Any, database: str, driver: MongoDriver, list_total_seconds: float = 0.0
    ) -> None:
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
        self.api_keys = db["api_keys"]
        self.metrics = db["metrics"]
        self.outcomes = db["outcomes"]
        self.quarantine = db["quarantine"]
        self.regions = db["regions"]
        self.answers = db["answers"]
        self.history = db["history"]
        self.published = db["published"]
        self._page_ends = PageEnds()
        self._totals = RecentTotals(list_total_seconds)

    async def close(self) -> None:
        result = self._client.close()
        if self._driver is MongoDriver.PYMONGO:
            await result

    async def ping(self) -> None:
        await self.db.command("ping")

    async def ensure_indexes(self) -> None:
        # One index per command: FerretDB 1.x drops the connection when a createIndexes
        # names two indexes that already exist (FerretDB#3858; docs/ferretdb.md).
        for index in REPORT_INDEXES:
            await self.reports.create_indexes([index])
        await self.partners.create_index([("distributor_id", ASCENDING)], name="by_distributor")
        await self.prices.create_index([("region", ASCENDING)], name="by_region")
        await self.partners.create_index([("updated_at", ASCENDING)], name="by_updated_at")
        await self.receipts.create_index([("at", ASCENDING)], name="by_at")
        await self.outcomes.create_index([("at", ASCENDING)], name="by_at")
        for name, indexes in ARCHIVE_INDEXES.items():
            for index in indexes:
                await self.db[name].create_indexes([index])
