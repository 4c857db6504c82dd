"""Accounts: ``lmp.accounts.v1`` -> partner, distributor and region documents.

Storing a partner also completes the reports that its usage opened before the
account was known (see ``services.domain.usage.attach_account``). The topic is
compacted; a tombstone (null value) withdraws what its key names: ``region/<code>``
resets that region's settings, any other key withdraws the partner or distributor
account of that id (usage then waits for an account again; reports already attached
keep the account they were opened with).
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.accounts import DistributorAccount, PartnerAccount, RegionSettings
from services.adapters.codec import Decoded, InboundMessage, Poison, Tombstone
from services.processors.common import decode_batch, screen_conflicts
from services.processors.usage import AttachAccounts
from services.runtime.context import ProcessorSpec, Runtime

TOPIC = "lmp.accounts.v1"
REGION_KEY = "region/"


class AccountsProcessor:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.uow = runtime.unit_of_work()

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        store, now = self.rt.store, self.rt.now()
        decoded = decode_batch(batch, self.rt.catalogue)
        accepted, conflicts = await screen_conflicts(store, decoded.decoded, now)
        keep = {id(item) for item in accepted}
        partners: set[str] = set()
        for item in decoded.items:
            if isinstance(item, Tombstone):
                key = item.key or ""
                if key.startswith(REGION_KEY):
                    await store.delete_region(key.removeprefix(REGION_KEY))
                elif key:
                    await store.withdraw_account(key, now)
                continue
            if id(item) not in keep:
                continue
            await self._save(item, now)
            if isinstance(item.data, PartnerAccount):
                partners.add(item.data.partner_id)
        pending = await store.pending_reports(partners) if partners else []
        waiting = {r.id: r.partner_id for r in pending}
        result = await self.uow.run(
            waiting,
            AttachAccounts(waiting, store, self.rt.outbox),
            preloaded={r.id: r for r in pending},
        )
        await self.uow.publish(result)
        return [*decoded.poisons, *conflicts]

    async def _save(self, item: Decoded, now: object) -> None:
        data, store = item.data, self.rt.store
        if isinstance(data, PartnerAccount):
            await store.save_partner(data, now)  # type: ignore[arg-type]
        elif isinstance(data, DistributorAccount):
            await store.save_distributor(data, now)  # type: ignore[arg-type]
        elif isinstance(data, RegionSettings):
            await store.save_region(data, now)  # type: ignore[arg-type]


PROCESSOR = ProcessorSpec(
    name="accounts", topics=(TOPIC,), create=AccountsProcessor, consumer="bulk"
)
