"""The store in memory: ``StoreProtocol`` without a server, for tests that run in
seconds. It keeps documents as the database would (a BSON round trip each way) and
answers as the MongoDB store does — the contract tests hold both to the same
assertions — including what matters under concurrency: a conditional save is checked
and applied in one step, so of racing writers exactly one wins; an outcome, a receipt
or an API key is inserted once.

One class of about 410 lines, over the house's 300: it is read against one protocol,
and each section mirrors a module of the MongoDB store, so it is kept in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from schemas.accounts import DistributorAccount, PartnerAccount, RegionSettings
from schemas.api import ApiKey, SortKey
from schemas.pricing import PriceListed, PromotionPublished
from schemas.report import HistoryEntry, HistoryRecord, OrphanOutcome, OutboxEntry, Report
from services.adapters.store.archive import archive_documents
from services.adapters.store.counters import COUNTED
from services.adapters.store.documents import DUPLICATE_KEY, valid
from services.adapters.store.matching import matches, ordered, project, stored
from services.adapters.store.protocol import Cursor, DuePage, ReportScope
from services.adapters.store.queries import (
    LIST_PROJECTION,
    READ_PROJECTION,
    SORTS,
    partner_reports_filter,
    with_history,
)
from services.adapters.store.reports import due_page
from services.adapters.store.rules import check_document, encoded
from services.domain.status import EDITABLE_BY_PARTNER

Collection = dict[Any, dict[str, Any]]


class MemoryStore:
    def __init__(self) -> None:
        self.collections: dict[str, Collection] = {}

    def collection(self, name: str) -> Collection:
        """A collection's documents by ``_id`` (tests may put raw documents in)."""
        return self.collections.setdefault(name, {})

    def _find(
        self,
        name: str,
        criteria: Mapping[str, Any],
        order: Sequence[tuple[str, int]] = (),
        projection: Mapping[str, int] | None = None,
    ) -> list[dict[str, Any]]:
        found = [doc for doc in self.collection(name).values() if matches(doc, criteria)]
        return [project(stored(doc), projection) for doc in ordered(found, order)]

    def _put(self, name: str, doc: Mapping[str, Any]) -> None:
        self.collection(name)[doc["_id"]] = stored(doc)

    def _insert_once(self, name: str, docs: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert each document whose ``_id`` is new; the positions of those that were not."""
        taken = []
        for i, doc in enumerate(docs):
            if doc["_id"] in self.collection(name):
                taken.append(i)
            else:
                self._put(name, doc)
        return taken

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        await asyncio.sleep(0)

    async def ensure_indexes(self) -> None:
        return None

    # reports -----------------------------------------------------------------

    async def load_reports(self, ids: Iterable[str]) -> dict[str, Report]:
        await asyncio.sleep(0)
        docs = self._find("reports", {"_id": {"$in": list(set(ids))}})
        return {doc["_id"]: Report.from_document(doc) for doc in docs}

    async def load_report(self, report_id: str) -> Report | None:
        return (await self.load_reports([report_id])).get(report_id)

    async def save_reports(self, changes: Sequence[tuple[Report, int | None]]) -> set[str]:
        await asyncio.sleep(0)  # racing callers interleave here, never inside the writes
        reports = self.collection("reports")
        written_as = [report.to_document() for report, _ in changes]
        for doc in written_as:
            encoded(doc, f"report {doc['_id']}")
        documents = [stored(doc) for doc in written_as]
        written: set[str] = set()
        for (report, expected), doc in zip(changes, documents, strict=True):
            current = reports.get(report.id)
            if current is None if expected is None else _version(current) == expected:
                reports[report.id] = doc
                written.add(report.id)
        return {report.id for report, _ in changes if report.id not in written}

    async def pending_reports(self, partner_ids: Iterable[str]) -> list[Report]:
        await asyncio.sleep(0)
        criteria = {"account_pending": True, "partner_id": {"$in": list(set(partner_ids))}}
        return [Report.from_document(doc) for doc in self._find("reports", criteria)]

    async def existing_reports(self, ids: Iterable[str]) -> set[str]:
        await asyncio.sleep(0)
        return set(ids) & set(self.collection("reports"))

    async def reports_with_outbox(self, committed_before: datetime, limit: int) -> list[Report]:
        await asyncio.sleep(0)
        docs = self._find("reports", {"outbox_since": {"$lte": committed_before}})[:limit]
        return [r for r in (valid(Report, doc, "report") for doc in docs) if r is not None]

    async def clear_outboxes(self, published: Sequence[tuple[str, int]]) -> None:
        await asyncio.sleep(0)
        reports = self.collection("reports")
        for rid, version in published:
            current = reports.get(rid)
            if current is not None and _version(current) == version:
                current.update(outbox=[], outbox_since=None)

    async def due_for_auto_submission(
        self, now: datetime, limit: int, after: Cursor | None = None
    ) -> DuePage:
        editable = sorted(status.value for status in EDITABLE_BY_PARTNER)
        return await self._due({"status": {"$in": editable}}, "deadline", now, after, limit)

    async def due_for_reminder(
        self, now: datetime, limit: int, after: Cursor | None = None
    ) -> DuePage:
        return await self._due({}, "next_reminder_at", now, after, limit)

    async def _due(
        self,
        criteria: dict[str, Any],
        field: str,
        now: datetime,
        after: Cursor | None,
        limit: int,
    ) -> DuePage:
        await asyncio.sleep(0)
        docs = self._find("reports", {**criteria, field: {"$lte": now}}, [(field, 1), ("_id", 1)])
        if after is not None:
            docs = [doc for doc in docs if (doc[field], doc["_id"]) > after]
        return due_page(docs[:limit], field, limit)

    async def purge_expired_reports(self, now: datetime, limit: int) -> int:
        await asyncio.sleep(0)
        expired = self._find("reports", {"expires_at": {"$lte": now}}, [("expires_at", 1)])
        for doc in expired[:limit]:
            del self.collection("reports")[doc["_id"]]
            for name in ("answers", "history"):
                moved = self.collection(name)
                for key in [k for k, d in moved.items() if d["report_id"] == doc["_id"]]:
                    del moved[key]
        return len(expired[:limit])

    # outcomes and quarantine ---------------------------------------------------

    async def load_outcomes(self, keys: Iterable[str]) -> dict[str, OrphanOutcome]:
        await asyncio.sleep(0)
        docs = self._find("outcomes", {"_id": {"$in": list(set(keys))}})
        return {doc["_id"]: OrphanOutcome.model_validate(doc) for doc in docs}

    async def record_outcomes(self, outcomes: Sequence[OrphanOutcome]) -> set[str]:
        await asyncio.sleep(0)
        docs = [o.model_dump(mode="python", by_alias=True) for o in outcomes]
        for doc in docs:
            check_document(doc, f"answer {doc['_id']}")
        return {outcomes[i].key for i in self._insert_once("outcomes", docs)}

    # what long reports moved out ---------------------------------------------------

    async def load_answers(self, keys: Iterable[str]) -> dict[str, OrphanOutcome]:
        await asyncio.sleep(0)
        docs = self._find("answers", {"_id": {"$in": list(set(keys))}})
        return {doc["_id"]: OrphanOutcome.model_validate(doc) for doc in docs}

    async def archive(
        self, answers: Sequence[OrphanOutcome], history: Sequence[HistoryRecord]
    ) -> None:
        await asyncio.sleep(0)
        answer_docs, history_docs = archive_documents(answers, history)
        self._insert_once("answers", answer_docs)
        self._insert_once("history", history_docs)

    async def moved_history(
        self, report_id: str, below: int, skip: int = 0, limit: int = 0, since: int = 0
    ) -> list[HistoryEntry]:
        await asyncio.sleep(0)
        criteria = {"report_id": report_id, "seq": {"$gte": since, "$lt": below}}
        docs = self._find("history", criteria, [("seq", 1)])[skip:]
        return [HistoryRecord.model_validate(d).entry for d in (docs[:limit] if limit else docs)]

    async def quarantine_events(self, entries: Sequence[tuple[OutboxEntry, str]]) -> None:
        await asyncio.sleep(0)
        for entry, reason in entries:
            self._put("quarantine", {"_id": entry.id, **entry.model_dump(), "reason": reason})

    async def quarantined(self) -> list[tuple[OutboxEntry, str]]:
        await asyncio.sleep(0)
        docs = self._find("quarantine", {}, [("_id", 1)])
        return [(OutboxEntry.model_validate(doc), str(doc.get("reason", ""))) for doc in docs]

    async def release_quarantined(self, event_ids: Sequence[str]) -> None:
        await asyncio.sleep(0)
        for event_id in event_ids:
            self.collection("quarantine").pop(event_id, None)

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

    # the read API's queries --------------------------------------------------------

    async def partner_directory(
        self, changed_since: datetime | None
    ) -> list[tuple[str, str, str, datetime]]:
        await asyncio.sleep(0)
        criteria = {} if changed_since is None else {"updated_at": {"$gte": changed_since}}
        return [
            (d["_id"], d.get("name", ""), d.get("distributor_id", ""), d["updated_at"])
            for d in self._find("partners", criteria)
        ]

    async def list_reports(
        self, criteria: Mapping[str, Any], sort: SortKey, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        await asyncio.sleep(0)
        docs = self._find("reports", criteria, SORTS[sort], LIST_PROJECTION)
        return docs[skip : skip + limit], len(docs)

    async def stream_reports(
        self, criteria: Mapping[str, Any], sort: SortKey, batch_size: int = 500
    ) -> AsyncGenerator[dict[str, Any], None]:
        for doc in self._find("reports", criteria, SORTS[sort], LIST_PROJECTION):
            yield doc

    async def read_report(self, report_id: str, recent: int | None = None) -> Report | None:
        await asyncio.sleep(0)
        docs = self._find("reports", {"_id": report_id}, projection=READ_PROJECTION)
        if not docs:
            return None
        return await with_history(self, Report.from_document(docs[0]), recent)

    async def partner_reports(
        self, partner_id: str, first_cycle: str, last_cycle: str, scope: ReportScope
    ) -> list[Report]:
        await asyncio.sleep(0)
        criteria = partner_reports_filter(partner_id, first_cycle, last_cycle, scope)
        if criteria is None:
            return []
        docs = self._find("reports", criteria, [("cycle", -1)], READ_PROJECTION)
        return [Report.from_document(doc) for doc in docs]

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


def _version(doc: Mapping[str, Any] | None) -> Any:
    """The stored version; none for a missing report (a replace then matches nothing)."""
    return _NO_VERSION if doc is None else doc.get("version", _NO_VERSION)


_NO_VERSION = object()
