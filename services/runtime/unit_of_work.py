"""The one load-decide-save-retry loop every processor uses.

Load the touched reports, let the processor's decider say what each becomes (pure,
per report), write every change conditionally on the version it read, reload only the
reports that lost a race and decide them again, then publish what was committed. A
report the rules cannot handle (its decider raised) is set aside with the reason, so
it never holds up the others; contention that outlasts every retry is ``Contended``,
a retryable condition for the whole batch, never a dead letter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

from schemas.report import OrphanOutcome, OutboxEntry, Report
from services.adapters.codec import Poison
from services.adapters.failures import describe, is_transient
from services.adapters.publisher import Outbox, without_published
from services.adapters.store import StoreProtocol
from services.adapters.store.bounds import settle
from services.observability import log_format, tracing
from services.runtime.backoff import Backoff

log = logging.getLogger(__name__)

C = TypeVar("C")


class Contended(Exception):
    """Reports kept losing their conditional writes: the batch is tried again later.

    Contention is never the message's fault, so it never makes a dead letter.
    """

    def __init__(self, report_ids: set[str]) -> None:
        super().__init__(f"{len(report_ids)} reports still contended: {sorted(report_ids)[:5]}")
        self.report_ids = report_ids


@dataclass
class Verdict:
    """What deciding one report came to."""

    report: Report | None = None
    """The report to write (its events staged in the outbox); None writes nothing."""
    orphans: list[OrphanOutcome] = field(default_factory=list)
    """Refusals, recorded once under the message id outside the report (``outcomes``):
    of actions on a report that does not exist, or that changed nothing in it. They are
    recorded before the report's write, which then moves its version on."""
    replays: list[OutboxEntry] = field(default_factory=list)
    """Answers given before, sent again byte for byte."""
    poisons: list[Poison] = field(default_factory=list)


class Decider(Protocol[C]):
    """What a processor decides; the unit of work does the rest."""

    async def prepare(self, stored: Mapping[str, Report], report_ids: set[str]) -> C:
        """Whatever the decisions of this attempt need besides the reports (prices...)."""
        ...

    def decide(self, report_id: str, stored: Report | None, context: C, now: datetime) -> Verdict:
        """The verdict on one report; may raise when the report cannot be handled."""
        ...


@dataclass
class Result:
    saved: dict[str, Report] = field(default_factory=dict)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    """Reports set aside, with the reason."""

    @property
    def poisons(self) -> list[Poison]:
        return [p for v in self.verdicts.values() for p in v.poisons]


@dataclass
class UnitOfWork:
    store: StoreProtocol
    outbox: Outbox
    clock: Callable[[], datetime]
    attempts: int = 8
    backoff_seconds: float = 0.02
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def run(
        self,
        report_ids: Iterable[str],
        decider: Decider[C],
        preloaded: Mapping[str, Report] | None = None,
        before_save: Callable[[], Awaitable[set[str]]] | None = None,
    ) -> Result:
        """Decide and save every report of ``report_ids``, retrying only the losers.

        ``before_save`` is awaited once, between the first decisions and their write: it
        may change the decider's inputs and names the reports to decide again (the usage
        path decides while its receipts are still being recorded, and takes out the few
        messages they show to be conflicts).
        """
        result = Result()
        pending = set(report_ids)
        stored: Mapping[str, Report] | None = preloaded
        backoff = Backoff(2 * self.backoff_seconds, float("inf"))
        for attempt in range(self.attempts):
            if not pending:
                break
            if attempt:
                await self.sleep(backoff.pause())
            if stored is None:
                stored = await self.store.load_reports(pending)
            lost = await self._attempt(pending, stored, decider, result, before_save)
            pending, stored, before_save = lost, None, None
        if pending:
            raise Contended(pending)
        return result

    async def _attempt(
        self,
        pending: set[str],
        stored: Mapping[str, Report],
        decider: Decider[C],
        result: Result,
        before_save: Callable[[], Awaitable[set[str]]] | None,
    ) -> set[str]:
        context = await decider.prepare(stored, pending)
        now = self.clock()
        for rid in sorted(pending):
            self._decide(rid, stored.get(rid), decider, context, now, result)
        if before_save is not None:
            for rid in sorted(await before_save() & pending):
                self._decide(rid, stored.get(rid), decider, context, now, result)
        orphans = {
            rid: verdict.orphans
            for rid in sorted(pending)
            if (verdict := result.verdicts.get(rid)) is not None and verdict.orphans
        }
        # Refusals first, insert-once: one already recorded (by a racing instance) is the
        # answer, so the report is decided again rather than written.
        taken = await self.store.record_outcomes([o for os in orphans.values() for o in os])
        lost = {rid for rid, os in orphans.items() if any(o.key in taken for o in os)}
        published = await self.outbox.published_among(
            report for rid in pending if (report := stored.get(rid)) is not None
        )
        changes: list[tuple[Report, int | None]] = []
        for rid in sorted(pending):
            verdict = result.verdicts.get(rid)
            if verdict is None or verdict.report is None or rid in lost:
                continue
            report = stored.get(rid)
            written = verdict.report
            if report is not None and rid in published:  # the write clears them
                written = without_published(report, written, now)
            changes.append((written, report.version if report is not None else None))
        with tracing.stage("save", reports=len(changes)):
            lost |= await self._save(await self._settle(changes, stored), result)
        # A report that appeared while its actions were refused as unknown is decided
        # again against it (the recorded answers are adopted there, never contradicted).
        missing = [rid for rid in orphans if rid not in lost and stored.get(rid) is None]
        lost |= await self.store.existing_reports(missing)
        return lost

    async def _settle(
        self, changes: list[tuple[Report, int | None]], stored: Mapping[str, Report]
    ) -> list[tuple[Report, int | None]]:
        """Move the committed overflow of long reports out of their documents, insert-once,
        before the conditional writes that drop it (docs/bounded-reports.md)."""
        settled = [(settle(stored.get(report.id), report), v) for report, v in changes]
        answers = [a for s, _ in settled for a in s.answers]
        history = [h for s, _ in settled for h in s.history]
        if answers or history:
            await self.store.archive(answers, history)
        return [(s.report, v) for s, v in settled]

    async def _save(self, changes: list[tuple[Report, int | None]], result: Result) -> set[str]:
        """Write the changes; one the database can never accept (a document too large)
        is found by writing each alone and set aside, and the others are written."""
        try:
            return self._saved(changes, await self.store.save_reports(changes), result)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning("a report write failed (%r); writing each report alone", exc)
        lost: set[str] = set()
        for change in changes:
            rid = change[0].id
            try:
                lost |= await self.store.save_reports([change])
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.error("report %s cannot be written; its messages are set aside", rid)
                result.failed[rid] = describe(exc)
                result.verdicts.pop(rid, None)
                lost.discard(rid)
            else:
                self._saved([change], lost, result)
        return lost

    @staticmethod
    def _saved(
        changes: list[tuple[Report, int | None]], lost: set[str], result: Result
    ) -> set[str]:
        for report, _ in changes:
            if report.id not in lost:
                result.saved[report.id] = report
        return lost

    @staticmethod
    def _decide(
        rid: str,
        report: Report | None,
        decider: Decider[C],
        context: C,
        now: datetime,
        result: Result,
    ) -> None:
        try:
            with tracing.decide(rid), log_format.bound(report_id=rid):
                result.verdicts[rid] = decider.decide(rid, report, context, now)
            result.failed.pop(rid, None)
        except Exception as exc:
            log.exception("report %s cannot be decided; its messages are set aside", rid)
            result.failed[rid] = describe(exc)
            result.verdicts.pop(rid, None)

    async def publish(self, result: Result) -> None:
        """Send what was committed: the saved outboxes, then answers to send again."""
        with tracing.stage("publish"):
            await self._publish(result)

    async def _publish(self, result: Result) -> None:
        await self.outbox.drain(list(result.saved.values()), defer_clear=True)
        again = [
            entry
            for verdict in result.verdicts.values()
            for entry in [
                *verdict.replays,
                *(e for o in verdict.orphans for e in o.decision.events),
            ]
        ]
        if again:
            await self.outbox.send(again)
        await self.outbox.clear_published()
