"""Runs a processor's handler on a batch until the batch is applied.

The consumer commits a batch's offsets only after ``run`` returns, so nothing may escape
it and nothing may hold it forever:

- what can succeed later (a server away, contention) is retried with jittered back-off;
- a message that can never be applied was already told apart by the handler (decoding
  and validation run per message, before the database) and comes back as a poison;
- anything else is a bug or data the rules did not foresee: the batch is halved until
  the message that fails alone is found, and that one is dead-lettered as
  ``processing_error`` with the exception.

Dead letters are published before ``run`` returns; one that can never be published is
replaced by a minimal one, and the partition moves on in every case.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from services.adapters.codec import InboundMessage, Poison, decode_ahead
from services.adapters.counters import DEAD_LETTERED, DEAD_LETTERS_LOST, PROCESSED
from services.adapters.failures import describe, is_transient
from services.runtime import observe
from services.runtime.backoff import Backoff
from services.runtime.context import BatchHandler, Runtime
from services.runtime.unit_of_work import Contended

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Unexpected(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(describe(cause))
        self.cause = cause


@dataclass
class BatchRunner:
    runtime: Runtime
    handler: BatchHandler
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    stats: dict[str, int] = field(default_factory=lambda: {"batches": 0, "poison": 0})

    async def finish(self) -> None:
        """After the last batch, at a stop: the outboxes published and not cleared yet are
        cleared now (the app's own stop comes before this batch ends)."""
        await self.runtime.outbox.clear_at_stop()

    async def run(self, batch: Sequence[InboundMessage]) -> None:
        started = time.perf_counter()
        try:
            with observe.batch(self.runtime.name, batch, self.prepare):
                poisons = await self._apply(batch)
                observe.outcomes(batch, poisons)
        finally:
            for message in batch:
                message.decoded = None  # a message and its decoding refer to each other
        counters = self.runtime.counters
        for topic, count in Counter(message.topic for message in batch).items():
            counters.add(topic, PROCESSED, count)
        for poison in poisons:
            counters.add(poison.message.topic, DEAD_LETTERED)
        if poisons:
            self.stats["poison"] += len(poisons)
            lost = await self.until_done(
                lambda: self.runtime.outbox.dead_letter(poisons, self.runtime.name)
            )
            if lost:
                counters.add(poisons[0].message.topic, DEAD_LETTERS_LOST, lost)
        self.stats["batches"] += 1
        log.debug(
            "%s: batch of %d in %.3fs", self.runtime.name, len(batch), time.perf_counter() - started
        )

    def prepare(self, batch: Sequence[InboundMessage]) -> None:
        """Decode ``batch`` ahead of ``run`` (pure CPU; see ``BulkConsumer``)."""
        decode_ahead(batch, self.runtime.catalogue)

    async def _apply(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        try:
            return await self.until_done(lambda: self._handle(batch))
        except _Unexpected as failure:
            if len(batch) == 1:
                log.error("dead-lettering a message that fails alone: %r", failure.cause)
                return [Poison(batch[0], "processing_error", describe(failure.cause))]
            log.warning(
                "%s: batch of %d failed (%r); halving it to find the message",
                self.runtime.name,
                len(batch),
                failure.cause,
            )
            middle = len(batch) // 2
            return [*await self._apply(batch[:middle]), *await self._apply(batch[middle:])]

    async def _handle(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        try:
            return await self.handler.handle(batch)
        except Exception as exc:
            if isinstance(exc, Contended) or is_transient(exc):
                raise
            log.exception("%s: handler failed on %d messages", self.runtime.name, len(batch))
            raise _Unexpected(exc) from exc

    async def until_done(self, action: Callable[[], Awaitable[T]]) -> T:
        """``action`` until it succeeds, backing off (with jitter) on what may pass."""
        settings = self.runtime.settings
        backoff = Backoff(settings.retry_backoff_seconds, settings.retry_backoff_max_seconds)
        while True:
            try:
                return await action()
            except Exception as exc:
                if not (isinstance(exc, Contended) or is_transient(exc)):
                    raise
                pause = backoff.pause()
                log.warning("%s: %r; retrying in %.2fs", self.runtime.name, exc, pause)
            await self.sleep(pause)
