"""The faust wiring of the usage processor around a handler that does no work.

Run by ``bench_ingestion`` as its own process, like the real processor: same app,
same agent, same batching settings, but the handler only counts the messages and
records the count in the database once per batch. How fast this drains the topic is
the ceiling faust itself sets on this machine for any processor built this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from services.adapters.catalogue import Catalogue, ensure_topics
from services.adapters.codec import InboundMessage, Poison
from services.bootstrap import run_processor
from services.runtime.context import ProcessorSpec, Runtime
from services.settings import Settings


class CountOnly:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.seen = 0

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        self.seen += len(batch)
        await self.rt.store.db["ceiling"].replace_one(
            {"_id": "count"}, {"seen": self.seen}, upsert=True
        )
        return []


def main() -> None:
    settings = Settings()
    catalogue = Catalogue.load(*settings.catalogue_args())
    asyncio.run(ensure_topics(catalogue, settings.kafka_bootstrap_servers))
    spec = ProcessorSpec(
        name="ceiling", topics=("lmp.usage.v1",), create=CountOnly, consumer="agent"
    )
    run_processor(settings, spec)


if __name__ == "__main__":
    main()
