"""Usage ingestion: ``lmp.usage.v1`` -> report peaks and line totals.

Each report touched by a batch is read once, folded with every usage message of the
batch (peaks, so redelivery and reordering change nothing) and written once.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from schemas.accounts import PartnerAccount, RegionSettings
from schemas.report import Report
from schemas.usage import UsageReported
from services.adapters.codec import Decoded, InboundMessage, Poison
from services.adapters.publisher import Outbox
from services.adapters.store import StoreProtocol
from services.adapters.store.bounds import WRITE_BYTES, added_bytes
from services.domain.events import DomainEvent
from services.domain.ids import report_id
from services.domain.usage import UsageRecord, apply_usage, attach_account, new_report
from services.observability import tracing
from services.processors.common import decode_batch, screen_conflicts, set_aside
from services.runtime.context import ProcessorSpec, Runtime
from services.runtime.unit_of_work import Verdict

TOPIC = "lmp.usage.v1"


def _report_of(item: Decoded) -> str:
    usage = item.data
    assert isinstance(usage, UsageReported)
    return report_id(usage.partner_id, usage.cycle)


@dataclass
class Accounts:
    """The partner accounts (and their regions' settings) an attempt may attach."""

    partners: Mapping[str, PartnerAccount]
    regions: Mapping[str, RegionSettings]

    def attach(self, report: Report, now: datetime) -> tuple[Report, list[DomainEvent], bool]:
        account = self.partners.get(report.partner_id)
        if account is None or not report.account_pending:
            return report, [], False
        outcome = attach_account(report, account, now, self.regions.get(account.region))
        return outcome.report, outcome.events, True


async def load_accounts(store: StoreProtocol, partner_ids: set[str]) -> Accounts:
    partners = await store.load_partners(partner_ids) if partner_ids else {}
    regions = await store.load_regions(a.region for a in partners.values())
    return Accounts(partners, regions)


@dataclass
class FoldUsage:
    """Decides what each report becomes with the batch's usage."""

    records: Mapping[str, list[UsageRecord]]
    store: StoreProtocol
    outbox: Outbox
    deferred: dict[str, list[UsageRecord]] = field(default_factory=dict)
    """Records per report left for the next write by the latest attempt: late usage adds
    a history entry and an event per record, so a write takes only as many of them (the
    first half, halved again) as keep its additions within ``WRITE_BYTES``."""

    async def prepare(self, stored: Mapping[str, Report], report_ids: set[str]) -> Accounts:
        pending = {
            self.records[rid][0].usage.partner_id
            for rid in report_ids
            if self.records[rid] and (rid not in stored or stored[rid].account_pending)
        }
        return await load_accounts(self.store, pending)

    def decide(
        self, report_id: str, stored: Report | None, accounts: Accounts, now: datetime
    ) -> Verdict:
        records = self.records[report_id]
        if not records:  # every message of it was a conflict
            return Verdict()
        first = records[0]
        current = stored or new_report(
            first.usage.partner_id, first.usage.cycle, now, first.message_id
        )
        taken = len(records)
        while True:
            verdict = self._fold(current, stored is None, records[:taken], accounts, now)
            if taken == 1 or verdict.report is None:
                break
            if added_bytes(current, verdict.report) <= WRITE_BYTES:
                break
            taken = (taken + 1) // 2
        self.deferred[report_id] = records[taken:]
        return verdict

    def _fold(
        self,
        current: Report,
        new: bool,
        records: list[UsageRecord],
        accounts: Accounts,
        now: datetime,
    ) -> Verdict:
        outcome = apply_usage(current, records, now)
        report, events, changed = outcome.report, outcome.events, outcome.changed
        report, attached_events, attached = accounts.attach(report, now)
        if not (changed or attached or new):
            return Verdict()
        entries = self.outbox.entries([*events, *attached_events])
        return Verdict(report=self.outbox.stage(report, entries, now))


@dataclass
class AttachAccounts:
    """Completes reports that are still waiting for their partner's account."""

    partner_ids: Mapping[str, str]
    """Report id -> partner id."""
    store: StoreProtocol
    outbox: Outbox

    async def prepare(self, _stored: Mapping[str, Report], report_ids: set[str]) -> Accounts:
        return await load_accounts(self.store, {self.partner_ids[rid] for rid in report_ids})

    def decide(
        self, _report_id: str, stored: Report | None, accounts: Accounts, now: datetime
    ) -> Verdict:
        if stored is None:
            return Verdict()
        report, events, attached = accounts.attach(stored, now)
        if not attached:
            return Verdict()
        return Verdict(report=self.outbox.stage(report, self.outbox.entries(events), now))


def _records(items: Iterable[Decoded]) -> list[UsageRecord]:
    return [UsageRecord(item.envelope.id, item.data) for item in items]  # type: ignore[arg-type]


class UsageIngestion:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.uow = runtime.unit_of_work()

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        """Fold the batch into its reports while its receipts are being recorded.

        Receipts are the batch's largest database cost and conflicts are rare, so the
        reports are loaded and decided meanwhile; the few messages the receipts show to
        be conflicts are taken out (and their reports decided again) before anything is
        written.
        """
        store, outbox = self.rt.store, self.rt.outbox
        decoded = decode_batch(batch, self.rt.catalogue)
        screening = asyncio.ensure_future(screen_conflicts(store, decoded.decoded, self.rt.now()))
        by_report: dict[str, list[Decoded]] = defaultdict(list)
        for item in decoded.decoded:
            by_report[_report_of(item)].append(item)
        records = {rid: _records(items) for rid, items in by_report.items()}
        conflicts: list[Poison] = []

        async def without_conflicts() -> set[str]:
            _accepted, found = await screening
            conflicts.extend(found)
            bad = {id(poison.message) for poison in found}
            touched = {_report_of(item) for item in decoded.decoded if id(item.message) in bad}
            for rid in touched:
                records[rid] = _records(i for i in by_report[rid] if id(i.message) not in bad)
            return touched

        try:
            stored = await store.load_reports(records)
            fold = FoldUsage(records, store, outbox)
            with tracing.reports(by_report):  # a report's decision in its usage's trace
                folded = await self.uow.run(
                    records, fold, preloaded=stored, before_save=without_conflicts
                )
        finally:
            if not screening.done():
                screening.cancel()
        await self.uow.publish(folded)
        # Late usage beyond one write's bytes: the rest, written again in order.
        late_poisons: list[Poison] = []
        later = _deferred(fold, folded.failed)
        while later:
            fold = FoldUsage(later, store, outbox)
            again = await self.uow.run(later, fold)
            await self.uow.publish(again)
            folded.saved.update(again.saved)
            for rid, reason in again.failed.items():
                ids = {record.message_id for record in later[rid]}
                rest = [item for item in by_report[rid] if item.envelope.id in ids]
                late_poisons += set_aside({rid: reason}, {rid: rest})
            later = _deferred(fold, again.failed)
        # An account stored while this batch was written: finish those reports now. The
        # accounts processor does the mirror image, so whichever writes second sees both.
        waiting = {r.id: r.partner_id for r in folded.saved.values() if r.account_pending}
        known = await store.load_partners(set(waiting.values())) if waiting else {}
        waiting = {rid: pid for rid, pid in waiting.items() if pid in known}
        if waiting:
            attached = await self.uow.run(waiting, AttachAccounts(waiting, store, outbox))
            await self.uow.publish(attached)
        return [
            *decoded.poisons,
            *conflicts,
            *set_aside(folded.failed, _unanswered(by_report, folded.failed, conflicts)),
            *late_poisons,
        ]


def _unanswered(
    by_report: Mapping[str, list[Decoded]], failed: Mapping[str, str], conflicts: list[Poison]
) -> dict[str, list[Decoded]]:
    """The messages of set-aside reports, less the conflicts: a conflict is answered as a
    conflict only, even if its report was set aside."""
    answered = {id(poison.message) for poison in conflicts}
    return {
        rid: [item for item in by_report[rid] if id(item.message) not in answered]
        for rid in failed
        if rid in by_report
    }


def _deferred(fold: FoldUsage, failed: Mapping[str, str]) -> dict[str, list[UsageRecord]]:
    return {rid: rest for rid, rest in fold.deferred.items() if rest and rid not in failed}


PROCESSOR = ProcessorSpec(name="usage", topics=(TOPIC,), create=UsageIngestion, consumer="bulk")
