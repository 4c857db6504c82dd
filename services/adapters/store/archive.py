"""What a long report moved out of its document (docs/bounded-reports.md): applied
decisions in ``answers`` by ``<topic>|<message id>``, history entries in ``history``
by ``<report id>|<sequence>``. Both insert-once: moving the same entry twice (a writer
that crashed between this insert and its report write, or lost its race) stores it
once, identical, and readers take the report's inline copy first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import BulkWriteError

from schemas.report import HistoryEntry, HistoryRecord, OrphanOutcome
from services.adapters.store.documents import duplicate_indexes
from services.adapters.store.rules import check_document

ARCHIVE_INDEXES = {
    "answers": [IndexModel([("report_id", ASCENDING)], name="by_report")],
    "history": [IndexModel([("report_id", ASCENDING), ("seq", ASCENDING)], name="by_report_seq")],
}


def archive_documents(
    answers: Sequence[OrphanOutcome], history: Sequence[HistoryRecord]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The documents to insert, each checked against the database's rules."""
    answer_docs = [a.model_dump(mode="python", by_alias=True) for a in answers]
    history_docs = [h.model_dump(mode="python", by_alias=True) for h in history]
    for doc in (*answer_docs, *history_docs):
        check_document(doc, f"moved entry {doc['_id']}")
    return answer_docs, history_docs


class Archive:
    """The ``answers`` and ``history`` collections' part of the store."""

    answers: Any
    history: Any

    async def load_answers(self, keys: Iterable[str]) -> dict[str, OrphanOutcome]:
        """Applied decisions moved out of their reports, by ``<topic>|<message id>``."""
        wanted = list(set(keys))
        if not wanted:
            return {}
        docs = await self.answers.find({"_id": {"$in": wanted}}).to_list(None)
        return {doc["_id"]: OrphanOutcome.model_validate(doc) for doc in docs}

    async def archive(
        self, answers: Sequence[OrphanOutcome], history: Sequence[HistoryRecord]
    ) -> None:
        """Insert each moved entry once; one already there is the same entry."""
        answer_docs, history_docs = archive_documents(answers, history)
        for collection, docs in ((self.answers, answer_docs), (self.history, history_docs)):
            if not docs:
                continue
            try:
                await collection.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                duplicate_indexes(exc)  # re-raises anything but a duplicate key

    async def moved_history(
        self, report_id: str, below: int, skip: int = 0, limit: int = 0, since: int = 0
    ) -> list[HistoryEntry]:
        """The report's moved history entries with a sequence from ``since`` to under
        ``below``, oldest first (a page when ``limit`` is set; ``since`` is a keyset
        start on the (report, sequence) index, cheaper than ``skip``)."""
        if below <= since:
            return []
        seq: dict[str, int] = {"$lt": below}
        if since > 0:
            seq["$gte"] = since
        cursor = (
            self.history.find({"report_id": report_id, "seq": seq})
            .sort([("seq", ASCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return [HistoryRecord.model_validate(doc).entry for doc in await cursor.to_list(None)]

    async def forget_moved(self, report_ids: Sequence[str]) -> None:
        """Drop what purged reports moved out."""
        if report_ids:
            for collection in (self.answers, self.history):
                await collection.delete_many({"report_id": {"$in": list(report_ids)}})
