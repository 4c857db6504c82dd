"""The store in memory: ``StoreProtocol`` without a server, for tests that run in
seconds. It keeps documents as the database would (a BSON round trip each way) and
answers as the MongoDB store does — the contract tests hold both to the same
assertions — including what matters under concurrency: a conditional save is checked
and applied in one step, so of racing writers exactly one wins; an outcome, a receipt
or an API key is inserted once.

Reference data, receipts, API keys and counters are in ``memory_reference``; the
collections themselves in ``memory_collections``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from schemas.api import SortKey
from schemas.report import HistoryEntry, HistoryRecord, OrphanOutcome, OutboxEntry, Report
from services.adapters.store.archive import archive_documents
from services.adapters.store.documents import valid
from services.adapters.store.matching import stored
from services.adapters.store.memory_reference import MemoryReferenceData
from services.adapters.store.protocol import After, Cursor, DuePage, ReportScope
from services.adapters.store.queries import (
    LIST_PROJECTION,
    READ_PROJECTION,
    SORTS,
    USAGE_ROW_PROJECTION,
    after_segments,
    partner_reports_filter,
    with_history,
)
from services.adapters.store.reports import due_page
from services.adapters.store.rules import check_document, encoded
from services.domain.status import EDITABLE_BY_PARTNER


class MemoryStore(MemoryReferenceData):
    """``StoreProtocol`` in memory."""

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

    async def mark_published(self, marks: Sequence[tuple[str, str]]) -> None:
        await asyncio.sleep(0)
        for rid, digest in marks:
            self.collection("published")[rid] = {"_id": rid, "outbox": digest}

    async def published_marks(self, report_ids: Iterable[str]) -> dict[str, str]:
        await asyncio.sleep(0)
        published = self.collection("published")
        return {rid: published[rid]["outbox"] for rid in set(report_ids) if rid in published}

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
            self.collection("published").pop(doc["_id"], None)
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
        self,
        criteria: Mapping[str, Any],
        sort: SortKey,
        skip: int,
        limit: int,
        after: After | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        await asyncio.sleep(0)
        total = len(self._find("reports", criteria))
        if after is None:
            docs = self._find("reports", criteria, SORTS[sort], LIST_PROJECTION)
            return docs[skip : skip + limit], total
        page: list[dict[str, Any]] = []
        for segment in after_segments(criteria, sort, after):
            page += self._find("reports", segment, SORTS[sort], LIST_PROJECTION)
        return page[:limit], total

    async def stream_reports(
        self,
        criteria: Mapping[str, Any],
        sort: SortKey,
        batch_size: int = 500,  # noqa: ARG002 - the protocol's keyword; memory has no batches
    ) -> AsyncGenerator[dict[str, Any], None]:
        for doc in self._find("reports", criteria, SORTS[sort], LIST_PROJECTION):
            yield doc

    async def read_report(self, report_id: str, recent: int | None = None) -> Report | None:
        await asyncio.sleep(0)
        docs = self._find("reports", {"_id": report_id}, projection=READ_PROJECTION)
        if not docs:
            return None
        return await with_history(self, Report.from_document(docs[0]), recent)

    async def partner_report_rows(
        self, partner_id: str, first_cycle: str, last_cycle: str, scope: ReportScope
    ) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        criteria = partner_reports_filter(partner_id, first_cycle, last_cycle, scope)
        if criteria is None:
            return []
        return self._find("reports", criteria, [("cycle", -1)], USAGE_ROW_PROJECTION)


def _version(doc: Mapping[str, Any] | None) -> Any:
    """The stored version; none for a missing report (a replace then matches nothing)."""
    return _NO_VERSION if doc is None else doc.get("version", _NO_VERSION)


_NO_VERSION = object()
