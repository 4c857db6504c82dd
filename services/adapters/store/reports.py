"""Reports: written whole, conditionally on the version that was read, so two
processors racing on one report cannot both win; events are committed in the same
document (the outbox) so a crash between the write and the publish loses nothing.
Also the outbox relay's queries and its markers (``published``: which outbox of a report
was published, so its next write drops it), the timer's due queries and the retention
purge.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, InsertOne, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError

from schemas.report import Report
from services.adapters.store.archive import Archive
from services.adapters.store.documents import DUPLICATE_KEY, acknowledged, bulk_write, valid
from services.adapters.store.protocol import Cursor, DuePage
from services.adapters.store.rules import encoded
from services.domain.status import EDITABLE_BY_PARTNER

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
    # The read API's lists in their own order (equality, then the sort; docs/api.md,
    # "Indexes and query plans"): a page reads its rows and stops.
    IndexModel(
        [("distributor_id", ASCENDING), ("cycle", DESCENDING), ("partner_id", ASCENDING)],
        name="distributor_cycle_partner",
    ),
    IndexModel([("cycle", DESCENDING), ("partner_id", ASCENDING)], name="cycle_partner"),
    IndexModel(
        [("status", ASCENDING), ("updated_at", DESCENDING), ("_id", ASCENDING)],
        name="status_updated",
    ),
]


def due_page(docs: list[dict[str, Any]], field: str, limit: int) -> DuePage:
    """A page of due report documents, read, with where the next page starts."""
    reports = [r for r in (valid(Report, doc, "report") for doc in docs) if r is not None]
    last = docs[-1] if len(docs) >= limit else None
    return DuePage(reports, (last[field], last["_id"]) if last is not None else None)


class ReportDocuments(Archive):
    """The ``reports`` collection's part of the store, with what long reports moved out."""

    reports: Any
    published: Any

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
            doc = encoded({**report.to_document(), WRITER_STAMP: token}, f"report {report.id}")
            if expected is None:
                ops.append(InsertOne(doc))
            else:
                ops.append(ReplaceOne({"_id": report.id, "version": expected}, doc))
        try:
            result = await bulk_write(self.reports, ops)
            acknowledged(result)
            done = result["nInserted"] + result["nMatched"]
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

    async def existing_reports(self, ids: Iterable[str]) -> set[str]:
        wanted = list(set(ids))
        if not wanted:
            return set()
        docs = await self.reports.find({"_id": {"$in": wanted}}, {"_id": 1}).to_list(None)
        return {doc["_id"] for doc in docs}

    # the outbox relay ------------------------------------------------------------

    async def reports_with_outbox(self, committed_before: datetime, limit: int) -> list[Report]:
        docs = (
            await self.reports.find({"outbox_since": {"$lte": committed_before}})
            .limit(limit)
            .to_list(None)
        )
        return [r for r in (valid(Report, doc, "report") for doc in docs) if r is not None]

    async def clear_outboxes(self, published: Sequence[tuple[str, int]]) -> None:
        """Drop events once published; a report that moved on keeps its outbox for later."""
        if not published:
            return
        await bulk_write(
            self.reports,
            [
                UpdateOne(
                    {"_id": rid, "version": version},
                    {"$set": {"outbox": [], "outbox_since": None}},
                )
                for rid, version in published
            ],
        )

    async def mark_published(self, marks: Sequence[tuple[str, str]]) -> None:
        """Markers outside the reports: the outbox of report ``id`` whose event ids hash
        to ``outbox`` is published (a small upsert, not a write of the report)."""
        if not marks:
            return
        await bulk_write(
            self.published,
            [UpdateOne({"_id": rid}, {"$set": {"outbox": d}}, upsert=True) for rid, d in marks],
        )

    async def published_marks(self, report_ids: Iterable[str]) -> dict[str, str]:
        wanted = list(set(report_ids))
        if not wanted:
            return {}
        docs = await self.published.find({"_id": {"$in": wanted}}).to_list(None)
        return {doc["_id"]: doc["outbox"] for doc in docs}

    # the timer's due queries and the retention purge ------------------------------

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
        return due_page(docs[:limit], "deadline", limit)

    async def due_for_reminder(
        self, now: datetime, limit: int, after: Cursor | None = None
    ) -> DuePage:
        docs = await self._page({}, "next_reminder_at", now, after, limit)
        return due_page(docs, "next_reminder_at", limit)

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
        ids = [d["_id"] for d in docs]
        result = await self.reports.delete_many({"_id": {"$in": ids}, "expires_at": {"$lte": now}})
        gone = sorted(set(ids) - await self.existing_reports(ids))
        await self.forget_moved(gone)
        if gone:
            await self.published.delete_many({"_id": {"$in": gone}})
        return int(result.deleted_count)
