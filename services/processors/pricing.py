"""Pricing: ``lmp.pricing.v1`` -> price lists and promotional codes.

Reports pick up a new list price the next time they are written (usage, an action
or the timer); prices already overridden by a promotional code stay as they are.
The topic is compacted; a tombstone withdraws what its key names: ``<region>/<product>``
a list price (lines keep the price they hold), any other key — or one of that shape that
names no price — a promotional code (it is then refused as unknown).
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.pricing import PriceListed, PromotionPublished
from services.adapters.codec import InboundMessage, Poison, Tombstone
from services.processors.common import decode_batch, screen_conflicts
from services.runtime.context import ProcessorSpec, Runtime


class PricingProcessor:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        store, now = self.rt.store, self.rt.now()
        decoded = decode_batch(batch, self.rt.catalogue)
        accepted, conflicts = await screen_conflicts(store, decoded.decoded, now)
        keep = {id(item) for item in accepted}
        for item in decoded.items:
            if isinstance(item, Tombstone):
                region, slash, product = (item.key or "").partition("/")
                deleted = slash and region and product and await store.delete_price(region, product)
                if not deleted and item.key:
                    await store.delete_promotion(item.key)
            elif id(item) in keep and isinstance(item.data, PriceListed):
                await store.save_price(item.data, now)
            elif id(item) in keep and isinstance(item.data, PromotionPublished):
                await store.save_promotion(item.data, now)
        return [*decoded.poisons, *conflicts]


PROCESSOR = ProcessorSpec(
    name="pricing", topics=("lmp.pricing.v1",), create=PricingProcessor, consumer="bulk"
)
