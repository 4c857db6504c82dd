"""Pricing: ``lmp.pricing.v1`` -> price lists and promotional codes in MongoDB.

Reports pick up a new list price the next time they are written (usage, an action
or the timer); prices already overridden by a promotional code stay as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.pricing import PriceListed, PromotionPublished
from services.adapters.codec import InboundMessage, Poison
from services.app import ProcessorSpec, Runtime
from services.processors.common import decode_batch, screen_conflicts


class PricingProcessor:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        now = self.rt.clock()
        decoded, poisons = decode_batch(batch, self.rt.catalogue)
        accepted, conflicts = await screen_conflicts(self.rt.store, decoded, now)
        for item in accepted:
            if isinstance(item.data, PriceListed):
                await self.rt.store.save_price(item.data, now)
            elif isinstance(item.data, PromotionPublished):
                await self.rt.store.save_promotion(item.data, now)
        return poisons + conflicts


PROCESSOR = ProcessorSpec(name="pricing", topics=("lmp.pricing.v1",), create=PricingProcessor)
