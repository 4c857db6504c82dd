"""What the runtime, the processors, the timer, the read API and the operations tools
need from the store: the MongoDB store and the in-memory one both answer it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from schemas.accounts import DistributorAccount, PartnerAccount, RegionSettings
from schemas.api import ApiKey, SortKey
from schemas.pricing import PriceListed, PromotionPublished
from schemas.report import HistoryEntry, HistoryRecord, OrphanOutcome, OutboxEntry, Report

Cursor = tuple[datetime, str]
"""Where a page of due reports ended: (the paged field's value, report id)."""


class DuePage(NamedTuple):
    reports: list[Report]
    """The page's reports that could be read (a stored one that no longer passes its
    model is logged and left out, never the end of the pass)."""
    cursor: Cursor | None
    """Where the next page starts; None when this one was the last."""


@dataclass(frozen=True)
class After:
    """Where a keyset page of a report list starts: just after the row of ``report_id``
    in the list's order. ``time`` is that row's value of the time the list is sorted on
    (``deadline``, None for a report without one; ``updated_at``); a list sorted on cycle
    or partner needs none, the report id holds both."""

    report_id: str
    time: datetime | None = None


@dataclass(frozen=True)
class ReportScope:
    """Which reports a caller may see: none set means every report.

    Billing-report lists are for distributors and operations; a partner's scope only
    reaches its own usage reports."""

    distributor_id: str | None = None
    partner_id: str | None = None


class StoreProtocol(Protocol):
    """Every call the system makes on its store; see the MongoDB store for the details."""

    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def ensure_indexes(self) -> None: ...

    # reports: conditional writes, the outbox relay, due queries, retention
    async def load_reports(self, ids: Iterable[str]) -> dict[str, Report]: ...
    async def load_report(self, report_id: str) -> Report | None: ...
    async def save_reports(self, changes: Sequence[tuple[Report, int | None]]) -> set[str]:
        """Write each report if its stored version is still ``expected`` (None: new);
        return the ids that lost a race. Of racing writers exactly one wins."""
        ...

    async def pending_reports(self, partner_ids: Iterable[str]) -> list[Report]: ...
    async def existing_reports(self, ids: Iterable[str]) -> set[str]: ...
    async def reports_with_outbox(self, committed_before: datetime, limit: int) -> list[Report]: ...

    async def clear_outboxes(self, published: Sequence[tuple[str, int]]) -> None: ...
    async def mark_published(self, marks: Sequence[tuple[str, str]]) -> None:
        """Remember, per report id, the digest of the outbox published last."""
        ...

    async def published_marks(self, report_ids: Iterable[str]) -> dict[str, str]: ...
    async def due_for_auto_submission(
        self, now: datetime, limit: int, after: Cursor | None = None
    ) -> DuePage: ...
    async def due_for_reminder(
        self, now: datetime, limit: int, after: Cursor | None = None
    ) -> DuePage: ...
    async def purge_expired_reports(self, now: datetime, limit: int) -> int: ...

    # refusals: of actions on reports that do not exist, or that changed nothing
    async def load_outcomes(self, keys: Iterable[str]) -> dict[str, OrphanOutcome]: ...
    async def record_outcomes(self, outcomes: Sequence[OrphanOutcome]) -> set[str]:
        """Insert each refusal once; return the keys that already had one."""
        ...

    # what long reports moved out of their documents (docs/bounded-reports.md)
    async def load_answers(self, keys: Iterable[str]) -> dict[str, OrphanOutcome]: ...
    async def archive(
        self, answers: Sequence[OrphanOutcome], history: Sequence[HistoryRecord]
    ) -> None:
        """Insert each moved entry once; one already there is the same entry."""
        ...

    async def moved_history(
        self, report_id: str, below: int, skip: int = 0, limit: int = 0, since: int = 0
    ) -> list[HistoryEntry]:
        """Moved entries with a sequence from ``since`` to under ``below``, oldest first."""
        ...

    # events the broker can never accept
    async def quarantine_events(self, entries: Sequence[tuple[OutboxEntry, str]]) -> None: ...
    async def quarantined(self) -> list[tuple[OutboxEntry, str]]: ...
    async def release_quarantined(self, event_ids: Sequence[str]) -> None: ...

    # reference data: prices, promotions, accounts, regions
    async def save_price(self, price: PriceListed, at: datetime) -> None: ...
    async def save_promotion(self, promo: PromotionPublished, at: datetime) -> None: ...
    async def price_lists(
        self, regions: Iterable[str | None]
    ) -> dict[str, dict[str, PriceListed]]: ...
    async def load_promotions(self, codes: Iterable[str]) -> dict[str, PromotionPublished]: ...
    async def delete_price(self, region: str, product_id: str) -> bool: ...
    async def delete_promotion(self, code: str) -> None: ...
    async def save_partner(self, account: PartnerAccount, at: datetime) -> None: ...
    async def save_distributor(self, account: DistributorAccount, at: datetime) -> None: ...
    async def withdraw_account(self, account_id: str, at: datetime) -> None: ...
    async def save_region(self, region: RegionSettings, at: datetime) -> None: ...
    async def delete_region(self, region: str) -> None: ...
    async def load_partners(self, partner_ids: Iterable[str]) -> dict[str, PartnerAccount]: ...
    async def load_regions(self, regions: Iterable[str | None]) -> dict[str, RegionSettings]: ...

    # receipts of inbound messages
    async def record_receipts(
        self, receipts: Sequence[tuple[str, str]], at: datetime
    ) -> dict[str, str]:
        """Remember (message key, payload hash); return the hashes of keys seen before."""
        ...

    async def purge_receipts(self, before: datetime, limit: int) -> int: ...

    # the read API's queries
    async def partner_directory(
        self, changed_since: datetime | None
    ) -> list[tuple[str, str, str, datetime]]: ...
    async def list_reports(
        self,
        criteria: Mapping[str, Any],
        sort: SortKey,
        skip: int,
        limit: int,
        after: After | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of list rows (``LIST_FIELDS``) and the total: ``skip`` rows skipped,
        or (``after`` given) the rows just after that one, read by key."""
        ...

    def stream_reports(
        self, criteria: Mapping[str, Any], sort: SortKey, batch_size: int = 500
    ) -> AsyncGenerator[dict[str, Any], None]: ...
    async def read_report(self, report_id: str, recent: int | None = None) -> Report | None:
        """The report as readers see it; its history whole (``recent`` None), or its
        inline entries preceded by moved ones up to ``recent``; ``history_archived`` then
        counts the entries before the first one returned."""
        ...

    async def partner_report_rows(
        self, partner_id: str, first_cycle: str, last_cycle: str, scope: ReportScope
    ) -> list[dict[str, Any]]:
        """One partner's reports over a cycle range within ``scope``, newest first, as
        rows of the partner's list (``USAGE_ROW_FIELDS``)."""
        ...

    # API keys
    async def save_api_key(self, key: ApiKey) -> None: ...
    async def load_api_key(self, key_id: str) -> ApiKey | None: ...
    async def list_api_keys(self) -> list[ApiKey]: ...
    async def revoke_api_key(self, key_id: str, at: datetime) -> bool: ...

    # counters and metrics
    async def add_counters(self, processor: str, deltas: Mapping[tuple[str, str], int]) -> None: ...

    async def load_counters(self) -> list[dict[str, Any]]: ...
    async def count_reports_by_status(self) -> dict[tuple[str, str | None], int]: ...
