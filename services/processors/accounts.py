"""Accounts: ``lmp.accounts.v1`` -> partner and distributor documents.

Storing a partner also completes the reports that its usage opened before the
account was known (see ``services.domain.usage.attach_account``).
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.accounts import DistributorAccount, PartnerAccount
from schemas.report import Report
from services.adapters.codec import InboundMessage, Poison
from services.app import ProcessorSpec, Runtime
from services.domain.usage import attach_account
from services.processors.common import decode_batch, screen_conflicts

TOPIC = "lmp.accounts.v1"
MAX_RACE_RETRIES = 20


class AccountsProcessor:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        now = self.rt.clock()
        decoded, poisons = decode_batch(batch, self.rt.catalogue)
        accepted, conflicts = await screen_conflicts(self.rt.store, decoded, now)
        partners: dict[str, PartnerAccount] = {}
        for item in accepted:
            if isinstance(item.data, PartnerAccount):
                await self.rt.store.save_partner(item.data, now)
                partners[item.data.partner_id] = item.data
            elif isinstance(item.data, DistributorAccount):
                await self.rt.store.save_distributor(item.data, now)
        completed = await self._complete_pending(partners)
        await self.rt.outbox.drain(completed)
        return poisons + conflicts

    async def _complete_pending(self, partners: dict[str, PartnerAccount]) -> list[Report]:
        done: list[Report] = []
        todo = set(partners)
        for _ in range(MAX_RACE_RETRIES):
            if not todo:
                return done
            now = self.rt.clock()
            pending = await self.rt.store.pending_reports(todo)
            changes = []
            for report in pending:
                outcome = attach_account(report, partners[report.partner_id], now)
                staged = self.rt.outbox.stage(outcome.report, outcome.events, now)
                changes.append((staged, report.version))
            lost = await self.rt.store.save_reports(changes)
            done += [r for r, _ in changes if r.id not in lost]
            todo = {r.partner_id for r, _ in changes if r.id in lost}
        raise RuntimeError(f"pending reports still contended for partners {sorted(todo)}")


PROCESSOR = ProcessorSpec(name="accounts", topics=(TOPIC,), create=AccountsProcessor)
