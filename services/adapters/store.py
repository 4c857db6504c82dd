"""The one module that talks to MongoDB.

Reports are written whole, conditionally on the version that was read, so two
processors racing on one report cannot both win; events are committed in the same
document (the outbox) so a crash between the write and the publish loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import ValidationError
from pymongo import ASCENDING, DESCENDING, IndexModel, InsertOne, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError, WriteConcernError

from schemas.accounts import DistributorAccount, PartnerAccount, RegionSettings
from schemas.api import ApiKey, ReportQuery, SortKey
from schemas.pricing import PriceListed, PromotionPublished
from schemas.report import OrphanOutcome, OutboxEntry, Report, ReportStatus, SubmissionKind
from services.domain.status import BILLING_STATUS_CRITERIA, EDITABLE_BY_PARTNER
from services.settings import MongoDriver, Settings

log = logging.getLogger(__name__)

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
        [
            ("distributor_id", ASCENDING),
            ("cycle", DESCENDING),
            ("status", ASCENDING),
            ("submission_kind", ASCENDING),
        ],
        name="distributor_cycle_status_kind",
    ),
    IndexModel([("partner_id", ASCENDING), ("cycle", DESCENDING)], name="partner_cycle"),
    IndexModel(
        [("cycle", DESCENDING), ("status", ASCENDING), ("submission_kind", ASCENDING)],
        name="cycle_status_kind",
    ),
    IndexModel([("status", ASCENDING), ("submission_kind", ASCENDING)], name="status_kind"),
    IndexModel([("expires_at", ASCENDING)], name="expires_at"),
]

_COUNTED = [(s, k) for s in ReportStatus for k in (None, *SubmissionKind)]

LIST_PROJECTION = {"history": 0, "outbox": 0, "lines": 0, "decisions": 0}
"""What a list row or a CSV row of the report list does not need."""

READ_PROJECTION = {"outbox": 0, "decisions": 0}
"""What a reader of one report never sees: events to publish and answers to actions."""

_SORTS: dict[SortKey, list[tuple[str, int]]] = {
    SortKey.CYCLE_DESC: [("cycle", DESCENDING), ("partner_id", ASCENDING)],
    SortKey.CYCLE: [("cycle", ASCENDING), ("partner_id", ASCENDING)],
    SortKey.PARTNER_ID: [("partner_id", ASCENDING), ("cycle", DESCENDING)],
    SortKey.PARTNER_ID_DESC: [("partner_id", DESCENDING), ("cycle", DESCENDING)],
    SortKey.DEADLINE: [("deadline", ASCENDING), ("_id", ASCENDING)],
    SortKey.DEADLINE_DESC: [("deadline", DESCENDING), ("_id", ASCENDING)],
    SortKey.UPDATED_AT: [("updated_at", ASCENDING), ("_id", ASCENDING)],
    SortKey.UPDATED_AT_DESC: [("updated_at", DESCENDING), ("_id", ASCENDING)],
}


Cursor = tuple[datetime, str]
"""Where a page of due reports ended: (the paged field's value, report id)."""


class DuePage(NamedTuple):
    reports: list[Report]
    """The page's reports that could be read (a stored one that no longer passes its
    model is logged and left out, never the end of the pass)."""
    cursor: Cursor | None
    """Where the next page starts; None when this one was the last."""


def _due_page(docs: list[dict[str, Any]], field: str, limit: int) -> DuePage:
    reports = [r for r in (_valid(Report, doc, "report") for doc in docs) if r is not None]
    last = docs[-1] if len(docs) >= limit else None
    return DuePage(reports, (last[field], last["_id"]) if last is not None else None)


@dataclass(frozen=True)
class ReportScope:
    """Which reports a caller may see: none set means every report.

    Billing-report lists are for distributors and operations; a partner's scope only
    reaches its own usage reports."""

    distributor_id: str | None = None
    partner_id: str | None = None


def report_filter(
    query: ReportQuery, scope: ReportScope, partner_ids: list[str] | None
) -> dict[str, Any]:
    """The MongoDB filter of a list query; every clause has an index behind it.

    ``partner_ids`` is the answer of the partner search (None when the query has none).
    """
    clauses: dict[str, Any] = {}
    if scope.distributor_id is not None:
        clauses["distributor_id"] = scope.distributor_id
    if partner_ids is not None:
        clauses["partner_id"] = {"$in": partner_ids}
    if query.cycle:
        clauses["cycle"] = query.cycle
    elif query.cycle_from or query.cycle_to:
        cycle_range: dict[str, str] = {}
        if query.cycle_from:
            cycle_range["$gte"] = query.cycle_from
        if query.cycle_to:
            cycle_range["$lte"] = query.cycle_to
        clauses["cycle"] = cycle_range
    if query.status:
        wanted = {BILLING_STATUS_CRITERIA[s] for s in query.status}
        whole = {status for status, kind in wanted if kind is None}
        by_kind = [(s, k) for s, k in wanted if k is not None and s not in whole]
        alternatives: list[dict[str, Any]] = []
        if whole:
            alternatives.append({"status": {"$in": sorted(whole)}})
        alternatives += [{"status": s.value, "submission_kind": k.value} for s, k in by_kind]
        if len(alternatives) == 1:
            clauses.update(alternatives[0])
        else:
            clauses["$or"] = alternatives
    return clauses


def durability(settings: Settings) -> dict[str, Any]:
    """The client options that make an acknowledged write survive a failover and the
    reads after it see it (README, "Running at scale"); they win over the URI's."""
    concern = settings.mongodb_write_concern
    return {
        "w": int(concern) if concern.isdigit() else concern,
        "wTimeoutMS": int(settings.mongodb_timeout_seconds * 1000),
        "readConcernLevel": settings.mongodb_read_concern,
        "retryWrites": settings.mongodb_retry_writes,
        "readPreference": "primary",
    }


def connect(settings: Settings) -> Store:
    """Build the store on the configured driver (motor by default, or PyMongo's async)."""
    client: Any
    timeout_ms = int(settings.mongodb_timeout_seconds * 1000)
    options: dict[str, Any] = {
        "tz_aware": True,
        "socketTimeoutMS": timeout_ms,
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": min(timeout_ms, 10_000),
        **durability(settings),
    }
    if settings.mongodb_driver is MongoDriver.PYMONGO:
        from pymongo import AsyncMongoClient

        client = AsyncMongoClient(settings.mongodb_uri, **options)
    else:
        from motor.motor_asyncio import AsyncIOMotorClient

        client = AsyncIOMotorClient(settings.mongodb_uri, **options)
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
        self.api_keys = db["api_keys"]
        self.metrics = db["metrics"]
        self.outcomes = db["outcomes"]
        self.quarantine = db["quarantine"]
        self.regions = db["regions"]

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
        await self.partners.create_index([("updated_at", ASCENDING)], name="by_updated_at")
        await self.receipts.create_index([("at", ASCENDING)], name="by_at")
        await self.outcomes.create_index([("at", ASCENDING)], name="by_at")

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
            _acknowledged(result.bulk_api_result)
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
        return [r for r in (_valid(Report, doc, "report") for doc in docs) if r is not None]

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

    async def due_for_auto_submission(
        self, now: datetime, limit: int, after: Cursor | None = None
    ) -> DuePage:
        """Overdue reports the partner can still edit, from the status+deadline index,
        in (deadline, id) order after ``after``: a pass pages through them, so reports it
        had to skip never hide the others.

        One equality+range query per status rather than one ``$in``: SecantusDB plans
        ``$in``+range as a collection scan (see the database probe).
        """
        docs: list[dict[str, Any]] = []
        for status in sorted(EDITABLE_BY_PARTNER):
            docs += await self._page({"status": status.value}, "deadline", now, after, limit)
        docs.sort(key=lambda doc: (doc["deadline"], doc["_id"]))
        return _due_page(docs[:limit], "deadline", limit)

    async def due_for_reminder(
        self, now: datetime, limit: int, after: Cursor | None = None
    ) -> DuePage:
        docs = await self._page({}, "next_reminder_at", now, after, limit)
        return _due_page(docs, "next_reminder_at", limit)

    async def _page(
        self,
        equal: dict[str, Any],
        field: str,
        now: datetime,
        after: Cursor | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Report documents with ``field`` <= now, in (field, id) order after ``after``.

        The rest of the last page's tie, then what comes later: two range queries on the
        index rather than one ``$or``, which SecantusDB answered more slowly the larger the
        collection (measured with ``benchmarks.bench_timer``; hinting the index was slower
        still).
        """
        order = [(field, ASCENDING), ("_id", ASCENDING)]
        queries: list[dict[str, Any]] = [{**equal, field: {"$lte": now}}]
        if after is not None:
            moment, rid = after
            queries = [
                {**equal, field: moment, "_id": {"$gt": rid}},
                {**equal, field: {"$gt": moment, "$lte": now}},
            ]
        docs: list[dict[str, Any]] = []
        for criteria in queries:
            if len(docs) >= limit:
                break
            docs += (
                await self.reports.find(criteria).sort(order).limit(limit - len(docs)).to_list(None)
            )
        return docs

    async def existing_reports(self, ids: Iterable[str]) -> set[str]:
        wanted = list(set(ids))
        if not wanted:
            return set()
        docs = await self.reports.find({"_id": {"$in": wanted}}, {"_id": 1}).to_list(None)
        return {doc["_id"] for doc in docs}

    async def purge_expired_reports(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` reports past their retention (``expires_at``)."""
        docs = (
            await self.reports.find({"expires_at": {"$lte": now}}, {"_id": 1})
            .sort([("expires_at", ASCENDING)])
            .limit(limit)
            .to_list(None)
        )
        if not docs:
            return 0
        result = await self.reports.delete_many(
            {"_id": {"$in": [d["_id"] for d in docs]}, "expires_at": {"$lte": now}}
        )
        return int(result.deleted_count)

    # outcomes of actions on reports that do not exist ---------------------------

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
        try:
            await self.outcomes.insert_many(
                [o.model_dump(mode="python", by_alias=True) for o in outcomes], ordered=False
            )
            return set()
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(err.get("code") != DUPLICATE_KEY for err in errors):
                raise
            return {outcomes[err["index"]].key for err in errors}

    # quarantine of events that cannot be published -------------------------------

    async def quarantine_events(self, entries: Sequence[tuple[OutboxEntry, str]]) -> None:
        await self.quarantine.bulk_write(
            [
                ReplaceOne(
                    {"_id": entry.id},
                    {"_id": entry.id, **entry.model_dump(), "reason": reason},
                    upsert=True,
                )
                for entry, reason in entries
            ],
            ordered=False,
        )

    async def quarantined(self) -> list[tuple[OutboxEntry, str]]:
        docs = await self.quarantine.find({}).sort([("_id", ASCENDING)]).to_list(None)
        return [(OutboxEntry.model_validate(doc), str(doc.get("reason", ""))) for doc in docs]

    async def release_quarantined(self, event_ids: Sequence[str]) -> None:
        if event_ids:
            await self.quarantine.delete_many({"_id": {"$in": list(event_ids)}})

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
                price = _valid(PriceListed, doc, "price")
                if price is not None:
                    out[price.region][price.product_id] = price
        return out

    async def load_promotions(self, codes: Iterable[str]) -> dict[str, PromotionPublished]:
        wanted = list(set(codes))
        if not wanted:
            return {}
        docs = await self.promotions.find({"_id": {"$in": wanted}}).to_list(None)
        valid = {doc["_id"]: _valid(PromotionPublished, doc, "promotion") for doc in docs}
        return {code: promo for code, promo in valid.items() if promo is not None}

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

    async def save_region(self, region: RegionSettings, at: datetime) -> None:
        await self.regions.replace_one(
            {"_id": region.region},
            {"_id": region.region, **region.model_dump(mode="json"), "updated_at": at},
            upsert=True,
        )

    async def delete_region(self, region: str) -> None:
        await self.regions.delete_one({"_id": region})

    async def load_partners(self, partner_ids: Iterable[str]) -> dict[str, PartnerAccount]:
        """Partner accounts in force (not withdrawn), by id."""
        docs = await self.partners.find(
            {"_id": {"$in": list(set(partner_ids))}, "withdrawn_at": None}
        ).to_list(None)
        valid = {doc["_id"]: _valid(PartnerAccount, doc, "partner") for doc in docs}
        return {pid: account for pid, account in valid.items() if account is not None}

    async def load_regions(self, regions: Iterable[str | None]) -> dict[str, RegionSettings]:
        wanted = [r for r in set(regions) if r]
        if not wanted:
            return {}
        docs = await self.regions.find({"_id": {"$in": wanted}}).to_list(None)
        valid = {doc["_id"]: _valid(RegionSettings, doc, "region") for doc in docs}
        return {code: region for code, region in valid.items() if region is not None}

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

    # reading -----------------------------------------------------------------

    async def partner_directory(
        self, changed_since: datetime | None
    ) -> list[tuple[str, str, str, datetime]]:
        """Partners as (id, name, distributor id, updated at): all, or those changed since."""
        criteria = {} if changed_since is None else {"updated_at": {"$gte": changed_since}}
        docs = await self.partners.find(
            criteria, {"name": 1, "distributor_id": 1, "updated_at": 1}
        ).to_list(None)
        return [
            (d["_id"], d.get("name", ""), d.get("distributor_id", ""), d["updated_at"])
            for d in docs
        ]

    async def list_reports(
        self, criteria: Mapping[str, Any], sort: SortKey, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of report documents (without lines and history) and the total.

        A short page is the last one, so its total needs no count: most of a
        distributor's queries fit one page and cost the database one query, not two."""
        cursor = (
            self.reports.find(dict(criteria), LIST_PROJECTION)
            .sort(_SORTS[sort])
            .skip(skip)
            .limit(limit)
        )
        page = await cursor.to_list(None)
        if len(page) < limit and (page or skip == 0):
            return page, skip + len(page)
        return page, await self.reports.count_documents(dict(criteria))

    async def stream_reports(
        self, criteria: Mapping[str, Any], sort: SortKey, batch_size: int = 500
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Every matching report document, a cursor batch at a time (memory stays flat)."""
        cursor = self.reports.find(dict(criteria), LIST_PROJECTION, batch_size=batch_size).sort(
            _SORTS[sort]
        )
        async for doc in cursor:
            yield doc

    async def read_report(self, report_id: str) -> Report | None:
        """One report as readers see it: without its outbox and recorded answers."""
        doc = await self.reports.find_one({"_id": report_id}, READ_PROJECTION)
        return None if doc is None else Report.from_document(doc)

    async def partner_reports(
        self, partner_id: str, first_cycle: str, last_cycle: str, scope: ReportScope
    ) -> list[Report]:
        """One partner's reports over a cycle range, within what ``scope`` may see."""
        criteria: dict[str, Any] = {
            "partner_id": partner_id,
            "cycle": {"$gte": first_cycle, "$lte": last_cycle},
        }
        if scope.distributor_id is not None:
            criteria["distributor_id"] = scope.distributor_id
        if scope.partner_id is not None and scope.partner_id != partner_id:
            return []
        docs = await (
            self.reports.find(criteria, READ_PROJECTION).sort([("cycle", DESCENDING)]).to_list(None)
        )
        return [Report.from_document(doc) for doc in docs]

    async def count_reports_by_status(self) -> dict[tuple[str, str | None], int]:
        """Reports per (status, submission kind), one index-backed count each."""
        pairs = [(s.value, k.value if k else None) for s, k in _COUNTED]
        counts = await asyncio.gather(
            *(self.reports.count_documents({"status": s, "submission_kind": k}) for s, k in pairs)
        )
        return dict(zip(pairs, counts, strict=True))

    # API keys ----------------------------------------------------------------

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

    # counters ----------------------------------------------------------------

    async def add_counters(self, processor: str, deltas: Mapping[tuple[str, str], int]) -> None:
        """Add a processor's counts since its last flush (``$inc``: order-free, cheap)."""
        if not deltas:
            return
        await self.metrics.bulk_write(
            [
                UpdateOne(
                    {"_id": f"{processor}|{topic}|{name}"},
                    {
                        "$inc": {"value": value},
                        "$set": {"processor": processor, "topic": topic, "name": name},
                    },
                    upsert=True,
                )
                for (topic, name), value in deltas.items()
            ],
            ordered=False,
        )

    async def load_counters(self) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = await self.metrics.find({}).to_list(None)
        return docs


def _valid(model: Any, doc: dict[str, Any], what: str) -> Any:
    """A stored reference document, or None (logged) when it no longer passes its model:
    one bad document must not stop every report that would read it."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        log.error("ignoring stored %s %r: %s", what, doc.get("_id"), exc.errors()[:3])
        return None


def _acknowledged(bulk_result: Mapping[str, Any]) -> None:
    """A bulk write the server applied but could not make durable as asked is not done:
    raise it, to be retried (``writeConcernErrors`` do not raise by themselves)."""
    problems = bulk_result.get("writeConcernErrors")
    if problems:
        raise WriteConcernError(str(problems[0].get("errmsg", "write concern failed")), 64)
