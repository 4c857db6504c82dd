"""``lmp-billing`` with every batch slowed down: the fault suite's processors, for SIGTERM
to land mid-batch (the harness runs this module instead of ``services.cli`` when
``LMP_FAULT_BATCH_DELAY_SECONDS`` is in a processor's environment).

The delay wraps the batch runner from outside, where the product's own delay used to be:
before the batch is applied, inside what the consumer waits on before committing.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from services.adapters.codec import InboundMessage
from services.cli import main
from services.runtime.batch_runner import BatchRunner
from tests.harness import SLOW_BATCHES


def slow_down(delay: float) -> None:
    """Every ``BatchRunner.run`` of this process waits ``delay`` seconds first."""
    run = BatchRunner.run

    async def slowed(self: BatchRunner, batch: Sequence[InboundMessage]) -> None:
        await asyncio.sleep(delay)
        await run(self, batch)

    BatchRunner.run = slowed  # type: ignore[method-assign]


if __name__ == "__main__":
    slow_down(float(os.environ.get(SLOW_BATCHES, "0")))
    sys.exit(main())
