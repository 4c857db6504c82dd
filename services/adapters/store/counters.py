"""What the metrics endpoint reads: the processors' flushed counters, and the reports
per (status, submission kind)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pymongo import UpdateOne

from schemas.report import ReportStatus, SubmissionKind
from services.adapters.store.documents import bulk_write

COUNTED = [(s, k) for s in ReportStatus for k in (None, *SubmissionKind)]
"""Every (status, submission kind) the metrics report, counted or not."""


class Metrics:
    """The ``metrics`` collection's part of the store, and the counts of ``reports``."""

    metrics: Any
    reports: Any

    async def add_counters(self, processor: str, deltas: Mapping[tuple[str, str], int]) -> None:
        """Add a processor's counts since its last flush (``$inc``: order-free, cheap)."""
        if not deltas:
            return
        await bulk_write(
            self.metrics,
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
        )

    async def load_counters(self) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = await self.metrics.find({}).to_list(None)
        return docs

    async def count_reports_by_status(self) -> dict[tuple[str, str | None], int]:
        """Reports per (status, submission kind), one index-backed count each."""
        pairs = [(s.value, k.value if k else None) for s, k in COUNTED]
        counts = await asyncio.gather(
            *(self.reports.count_documents({"status": s, "submission_kind": k}) for s, k in pairs)
        )
        return dict(zip(pairs, counts, strict=True))
