"""The timer: reminders before deadlines, automatic submission of overdue reports, and
the purge of what is past its retention.

Runs as a leader-only faust timer, so one instance acts at a time; every write is
conditional on the version it read, so even a leader hand-over that double-fires
cannot auto-submit a report twice. Due reports are found through indexes
(status+deadline, next_reminder_at) a page at a time; a report the rules cannot handle
(bad data) is logged, counted and skipped, and the pass goes on with the next page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.report import Report
from services.adapters.counters import (
    AUTO_SUBMITTED,
    RECEIPTS_PURGED,
    REMINDERS_SENT,
    REPORTS_PURGED,
    TIMER_RUNS,
    TIMER_SKIPPED,
)
from services.adapters.publisher import DEAD_LETTER_TOPIC, Outbox
from services.adapters.store import Cursor, DuePage, StoreProtocol
from services.domain.events import Outcome
from services.domain.pricing import PriceList
from services.domain.reminders import auto_submit, remind
from services.observability import tracing
from services.runtime.context import ProcessorSpec, Runtime
from services.runtime.unit_of_work import Verdict

log = logging.getLogger(__name__)

BATCH = 500

Finder = Callable[[datetime, int, Cursor | None], Awaitable[DuePage]]
Rule = Callable[[Report, datetime, PriceList], Outcome]


@dataclass
class ApplyRule:
    """Applies a deadline rule (remind, auto-submit) to each report of a page."""

    rule: Rule
    store: StoreProtocol
    outbox: Outbox
    announced: dict[str, bool] = field(default_factory=dict)
    """Whether the latest decision on each report published something."""

    async def prepare(
        self, stored: Mapping[str, Report], _report_ids: set[str]
    ) -> Mapping[str, PriceList]:
        return await self.store.price_lists(r.region for r in stored.values())

    def decide(
        self, report_id: str, stored: Report | None, prices: Mapping[str, PriceList], now: datetime
    ) -> Verdict:
        if stored is None:
            return Verdict()
        outcome = self.rule(stored, now, prices.get(stored.region or "", {}))
        self.announced[report_id] = bool(outcome.events)
        if not outcome.changed:
            return Verdict()
        entries = self.outbox.entries(outcome.events)
        return Verdict(report=self.outbox.stage(outcome.report, entries, now))


PURGE_BITES = 20
"""Most bites (of ``LMP_PURGE_BATCH`` each) one pass deletes while whole bites keep
coming: one bite a pass (every 5 s) forgot 100 receipts a second, and usage alone
records one per message (500 a second in the soak): past their horizon they would have
piled up for good. Twenty keep a pass's deletes bounded and outrun 2,000 a second."""


class DeadlineTimer:
    def __init__(
        self, runtime: Runtime, page_size: int = BATCH, purge_bites: int = PURGE_BITES
    ) -> None:
        self.rt = runtime
        self.uow = runtime.unit_of_work()
        self.page_size = page_size
        self.purge_bites = purge_bites

    async def tick(self) -> tuple[int, int]:
        """One pass: returns (reports auto-submitted, reminders sent)."""
        now = self.rt.now()
        store = self.rt.store
        with tracing.root("timer pass", **{"lmp.processor": self.rt.name}):
            submitted = await self._pass(now, store.due_for_auto_submission, auto_submit)
            reminded = await self._pass(now, store.due_for_reminder, remind)
            await self._purge(now)
        counters = self.rt.counters
        counters.add("", TIMER_RUNS)
        counters.add("", AUTO_SUBMITTED, submitted)
        counters.add("", REMINDERS_SENT, reminded)
        return submitted, reminded

    async def _pass(self, now: datetime, find: Finder, rule: Rule) -> int:
        """Apply ``rule`` to every report ``find`` returns, a page at a time."""
        acted = 0
        after: Cursor | None = None
        decider = ApplyRule(rule, self.rt.store, self.rt.outbox)
        while True:
            page = await find(now, self.page_size, after)
            if page.reports:
                result = await self.uow.run(
                    [r.id for r in page.reports],
                    decider,
                    preloaded={r.id: r for r in page.reports},
                )
                await self.uow.publish(result)
                acted += sum(1 for rid in result.saved if decider.announced.get(rid))
                for rid, reason in result.failed.items():
                    log.error("timer skipped report %s: %s", rid, reason)
                self.rt.counters.add("", TIMER_SKIPPED, len(result.failed))
            if page.cursor is None:
                return acted
            after = page.cursor

    async def _purge(self, now: datetime) -> None:
        """Reports past their retention, and receipts past every redelivery, in bounded
        bites: another while the last one was whole, at most ``purge_bites``."""
        settings, store = self.rt.settings, self.rt.store
        bite, horizon = settings.purge_batch, now - self.receipt_horizon()
        more_reports = more_receipts = True
        for _ in range(self.purge_bites):
            if more_reports:
                reports = await store.purge_expired_reports(now, bite)
                self.rt.counters.add("", REPORTS_PURGED, reports)
                more_reports = reports >= bite
            if more_receipts:
                receipts = await store.purge_receipts(horizon, bite)
                self.rt.counters.add("", RECEIPTS_PURGED, receipts)
                more_receipts = receipts >= bite
            if not (more_reports or more_receipts):
                break

    def receipt_horizon(self) -> timedelta:
        """How long a message may still come back: the longest retention of an inbound
        topic or the dead-letter topic (a replay), plus a margin."""
        dead_letters = self.rt.catalogue.physical(DEAD_LETTER_TOPIC)
        longest = max(
            (
                t.retention_ms
                for t in self.rt.catalogue.topics.values()
                if t.retention_ms > 0 and (t.direction == "in" or t.name == dead_letters)
            ),
            default=0,
        )
        return timedelta(milliseconds=longest, days=self.rt.settings.receipt_margin_days)


def tick(runtime: Runtime) -> Callable[[], Awaitable[None]]:
    timer = DeadlineTimer(runtime)

    async def run() -> None:
        await timer.tick()

    return run


PROCESSOR = ProcessorSpec(name="timer", topics=(), timers=(tick,))
