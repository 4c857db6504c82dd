"""Usage ingestion: ``lmp.usage.v1`` -> report peaks and line totals in MongoDB."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.report import Report
from schemas.usage import UsageReported
from services.adapters.codec import Decoded, InboundMessage, Poison
from services.app import ProcessorSpec, Runtime
from services.domain.ids import report_id
from services.domain.usage import UsageRecord, apply_usage, attach_account, new_report
from services.processors.common import intake

TOPIC = "lmp.usage.v1"
MAX_RACE_RETRIES = 20


def _report_of(item: Decoded) -> str:
    usage = item.data
    assert isinstance(usage, UsageReported)
    return report_id(usage.partner_id, usage.cycle)


class UsageIngestion:
    """One read and one conditional write per batch, whatever the batch size."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        now = self.rt.clock()
        batch_in = await intake(self.rt.store, self.rt.catalogue, batch, now, _report_of)
        by_report = {
            rid: [UsageRecord(item.envelope.id, item.data) for item in items]  # type: ignore[arg-type]
            for rid, items in batch_in.by_report.items()
        }
        saved = await self._apply(by_report, batch_in.stored)
        await self.rt.outbox.drain(saved)
        return batch_in.poisons

    async def _apply(
        self, by_report: dict[str, list[UsageRecord]], preloaded: dict[str, Report]
    ) -> list[Report]:
        """Fold the usage into each report; reports that lost a race are reloaded and redone."""
        saved: dict[str, Report] = {}
        todo = dict(by_report)
        for _ in range(MAX_RACE_RETRIES):
            if not todo:
                break
            now = self.rt.clock()
            stored = preloaded if preloaded else await self.rt.store.load_reports(todo)
            preloaded = {}
            partners = await self.rt.store.load_partners(
                records[0].usage.partner_id
                for rid, records in todo.items()
                if rid not in stored or stored[rid].account_pending
            )
            changes: list[tuple[Report, int | None]] = []
            for rid, records in todo.items():
                first = records[0]
                current = stored.get(rid) or new_report(
                    first.usage.partner_id, first.usage.cycle, now, first.message_id
                )
                outcome = apply_usage(current, records, now)
                report, events, changed = outcome.report, outcome.events, outcome.changed
                account = partners.get(report.partner_id)
                if account is not None:
                    attached = attach_account(report, account, now)
                    report, changed = attached.report, changed or attached.changed
                    events += attached.events
                if changed or rid not in stored:
                    report = self.rt.outbox.stage(report, events, now)
                    changes.append((report, stored[rid].version if rid in stored else None))
            lost = await self.rt.store.save_reports(changes)
            saved.update({r.id: r for r, _ in changes if r.id not in lost})
            todo = {rid: todo[rid] for rid in lost}
        else:
            raise RuntimeError(
                f"reports still contended after {MAX_RACE_RETRIES} tries: {list(todo)}"
            )
        await self._attach_late_accounts(saved)
        return list(saved.values())

    async def _attach_late_accounts(self, saved: dict[str, Report]) -> None:
        """An account may have been stored while this batch was written; finish those reports.

        The accounts processor does the mirror image (store account, then complete pending
        reports), so whichever side writes second sees the other's write.
        """
        pending = [r for r in saved.values() if r.account_pending]
        if not pending:
            return
        partners = await self.rt.store.load_partners(r.partner_id for r in pending)
        now = self.rt.clock()
        changes = []
        for report in pending:
            account = partners.get(report.partner_id)
            if account is None:
                continue
            outcome = attach_account(report, account, now)
            changes.append(
                (self.rt.outbox.stage(outcome.report, outcome.events, now), report.version)
            )
        lost = await self.rt.store.save_reports(changes)
        for report, _ in changes:
            if report.id not in lost:
                saved[report.id] = report


PROCESSOR = ProcessorSpec(name="usage", topics=(TOPIC,), create=UsageIngestion)
