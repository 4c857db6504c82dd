"""The timer: reminders before deadlines and automatic submission of overdue reports.

Runs as a leader-only faust timer, so one instance acts at a time; every write is
conditional on the version it read, so even a leader hand-over that double-fires
cannot auto-submit a report twice. Due reports are found through indexes
(status+deadline, next_reminder_at), never by scanning every report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from schemas.report import Report
from services.adapters.codec import InboundMessage, Poison
from services.adapters.counters import AUTO_SUBMITTED, REMINDERS_SENT, TIMER_RUNS
from services.app import ProcessorSpec, Runtime
from services.domain.events import Outcome
from services.domain.pricing import PriceList
from services.domain.reminders import auto_submit, remind

BATCH = 500

Finder = Callable[[datetime, int], Awaitable[list[Report]]]
Rule = Callable[[Report, datetime, PriceList], Outcome]


class DeadlineTimer:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        raise RuntimeError("the timer consumes no topic")

    async def tick(self) -> tuple[int, int]:
        """One pass: returns (reports auto-submitted, reminders sent)."""
        now = self.rt.clock()
        submitted = await self._pass(now, self.rt.store.due_for_auto_submission, auto_submit)
        reminded = await self._pass(now, self.rt.store.due_for_reminder, remind)
        self.rt.counters.add("", TIMER_RUNS)
        self.rt.counters.add("", AUTO_SUBMITTED, submitted)
        self.rt.counters.add("", REMINDERS_SENT, reminded)
        return submitted, reminded

    async def _pass(self, now: datetime, find: Finder, rule: Rule) -> int:
        """Apply ``rule`` to every report ``find`` returns, a batch at a time."""
        acted = 0
        while True:
            reports = await find(now, BATCH)
            if not reports:
                return acted
            prices = await self.rt.store.price_lists(r.region for r in reports)
            changes: list[tuple[Report, int | None]] = []
            with_events: set[str] = set()
            for report in reports:
                outcome = rule(report, now, prices.get(report.region or "", {}))
                if outcome.changed:
                    staged = self.rt.outbox.stage(outcome.report, outcome.events, now)
                    changes.append((staged, report.version))
                    if outcome.events:
                        with_events.add(report.id)
            lost = await self.rt.store.save_reports(changes)
            written = [r for r, _ in changes if r.id not in lost]
            await self.rt.outbox.drain(written)
            acted += len(with_events - lost)
            if len(reports) < BATCH or not changes:
                return acted


def tick(runtime: Runtime) -> Callable[[], Awaitable[None]]:
    timer = DeadlineTimer(runtime)

    async def run() -> None:
        await timer.tick()

    return run


PROCESSOR = ProcessorSpec(name="timer", topics=(), create=DeadlineTimer, timers=(tick,))
