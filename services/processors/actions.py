"""Partner actions, distributor review actions and Trend Micro responses.

Three processors, one decision: each action is answered once — applied, or refused with
a reason — and the answer is recorded in the report (``decisions``) in the same
conditional write as its effect, its events in the same outbox. A later delivery of the
same action gets the recorded answer again, byte for byte, whatever happened to the
report since; time-bound rules (promotional codes, deadlines) are judged at the time of
that first decision. A refusal changes nothing in the report, so it is kept outside it,
under the action's topic and id (``outcomes``, insert-once, then the report's version is
moved on conditionally); so is the refusal of an action on a report that does not exist,
which stays the answer even once the report appears. Applied decisions of a long report
are moved out of it (``answers``); a redelivery is looked up inline, then there, then in
``outcomes`` (docs/bounded-reports.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from schemas.events import ActionRejected
from schemas.pricing import PriceListed, PromotionPublished
from schemas.report import Decision, OrphanOutcome, OutboxEntry, Report
from services.adapters.catalogue import Catalogue
from services.adapters.codec import Decoded, InboundMessage, Poison
from services.adapters.counters import REFUSED
from services.adapters.publisher import Outbox
from services.adapters.store import StoreProtocol
from services.adapters.store.bounds import PER_WRITE, WRITE_BYTES, added_bytes
from services.domain.deduplication import ConflictingDuplicate, recorded_decision
from services.domain.errors import Refused
from services.domain.events import DomainEvent
from services.domain.ids import event_id
from services.domain.workflow import ActionContext, decide
from services.observability import log_format, tracing
from services.processors.common import conflict, intake, set_aside
from services.runtime.context import ProcessorSpec, Runtime
from services.runtime.unit_of_work import Verdict


def refusal_event(item: Decoded, reason: str, at_time: datetime) -> DomainEvent:
    data = item.data
    actor = getattr(data, "actor", None)
    report_id = getattr(data, "report_id", None)
    return DomainEvent(
        id=event_id(report_id or "-", "action-rejected", item.envelope.id),
        type="lmp.action.rejected",
        subject=report_id,  # type: ignore[arg-type]
        time=at_time,
        data=ActionRejected(
            action_id=item.envelope.id,
            action_type=item.envelope.type,
            report_id=report_id,
            actor_account_id=actor.account_id if actor else None,
            actor_user_id=actor.user_id if actor else None,
            reason=reason,
        ),
    )


def _report_of(item: Decoded) -> str:
    report_id: str = item.data.report_id  # type: ignore[attr-defined]
    return report_id


@dataclass(frozen=True)
class References:
    """What an attempt decides with besides the reports."""

    prices: Mapping[str, Mapping[str, PriceListed]]
    promotions: Mapping[str, PromotionPublished]
    orphans: Mapping[str, OrphanOutcome]
    """Refusals kept outside their reports."""
    moved: Mapping[str, OrphanOutcome]
    """Applied decisions moved out of their reports."""


@dataclass
class AnswerActions:
    """Answers each action of the batch once, or gives the answer recorded before."""

    by_report: Mapping[str, list[Decoded]]
    store: StoreProtocol
    outbox: Outbox
    catalogue: Catalogue
    refused: dict[str, int] = field(default_factory=dict)
    """New refusals per report, as decided by the latest attempt."""
    deferred: dict[str, list[Decoded]] = field(default_factory=dict)
    """Actions per report left for the next write, in order, by the latest attempt: those
    after the one whose entries took the write's additions past ``WRITE_BYTES``."""

    async def prepare(self, stored: Mapping[str, Report], report_ids: set[str]) -> References:
        items = [item for rid in report_ids for item in self.by_report[rid]]
        undecided = [
            self._key(item)
            for item in items
            if not any(
                (d.topic, d.message_id) == (self._topic(item), item.envelope.id)
                for d in _decisions(stored, item)
            )
        ]
        codes = {
            line.promo_code
            for item in items
            for line in getattr(item.data, "lines", [])
            if getattr(line, "promo_code", None)
        }
        moved_out = [
            self._key(item)
            for item in items
            if (report := stored.get(_report_of(item))) is not None and report.decisions_archived
        ]
        # After the reports, never beside them: an answer recorded for a missing report
        # must be seen by whoever finds the report since created (see UnitOfWork).
        orphans, moved, prices, promotions = await asyncio.gather(
            self.store.load_outcomes(undecided),
            self.store.load_answers(set(moved_out) & set(undecided)),
            self.store.price_lists(r.region for r in stored.values()),
            self.store.load_promotions(codes),
        )
        return References(prices, promotions, orphans, moved)

    def decide(  # noqa: C901 - the replay, orphan and new-action cases of one decision
        self, report_id: str, stored: Report | None, refs: References, now: datetime
    ) -> Verdict:
        verdict = Verdict()
        report = stored
        refused = 0
        items = self.by_report[report_id]
        self.deferred[report_id] = []
        for n, item in enumerate(items):
            if report is not None and added_bytes(stored, report) > WRITE_BYTES:
                self.deferred[report_id] = items[n:]  # the next write adds them, in order
                break
            message_id, digest = item.envelope.id, item.payload_hash
            try:
                done = recorded_decision(report, self._topic(item), message_id, digest)
            except ConflictingDuplicate:
                verdict.poisons.append(conflict(item, "answered"))
                continue
            if done is not None:
                tracing.replayed(item, [e.value for e in done.events])
                verdict.replays += done.events
                continue
            moved = refs.moved.get(self._key(item))
            if moved is not None:  # applied, committed, then moved out of the report
                if moved.decision.payload_hash != digest:
                    verdict.poisons.append(conflict(item, "answered"))
                else:
                    tracing.replayed(item, [e.value for e in moved.decision.events])
                    verdict.replays += moved.decision.events
                continue
            orphan = refs.orphans.get(self._key(item)) or _refused_here(verdict, self._key(item))
            if orphan is not None:
                if orphan.decision.payload_hash != digest:
                    verdict.poisons.append(conflict(item, "answered"))
                    continue
                if report is not None:
                    report = _bump(report)  # adopt the answer: no writer decides it again
                tracing.replayed(item, [e.value for e in orphan.decision.events])
                verdict.replays += orphan.decision.events
                continue
            with (
                tracing.record(  # the action's own trace, stamped on its events
                    "decide action", tracing.message_context(item), **{"lmp.message_id": message_id}
                ),
                log_format.bound(message_id=message_id),
            ):
                decision, report = self._answer(item, report, refs, now)
            if decision.outcome == "refused":
                refused += 1
                verdict.orphans.append(
                    OrphanOutcome(
                        key=self._key(item), report_id=report_id, decision=decision, at=now
                    )
                )
        self.refused[report_id] = refused
        if report is not stored:
            verdict.report = report
        return verdict

    def _topic(self, item: Decoded) -> str:
        return self.catalogue.contract_name(item.message.topic)

    def _key(self, item: Decoded) -> str:
        """Where an answer to an action on a missing report is kept: topic and id."""
        return f"{self._topic(item)}|{item.envelope.id}"

    def _answer(
        self, item: Decoded, report: Report | None, refs: References, now: datetime
    ) -> tuple[Decision, Report | None]:
        """Decide a new action: the decision, and the report with it recorded (and staged)."""
        ctx = ActionContext(
            message_id=item.envelope.id,
            payload_hash=item.payload_hash,
            action_type=item.envelope.type,
            now=now,
            prices=refs.prices.get(report.region or "", {}) if report else {},
            promotions=refs.promotions,
        )
        try:
            outcome = decide(report, item.data, ctx)
        except Refused as refusal:
            # Kept outside the report (``outcomes``) and sent after the write like a
            # replay; the report's version moves on, so a racing writer that decided
            # the same action without seeing this refusal loses its write.
            entries = self.outbox.entries([refusal_event(item, refusal.reason, now)])
            decision = _decision(item, self._topic(item), "refused", refusal.reason, now, entries)
            return decision, None if report is None else _bump(report)
        entries = self.outbox.entries(outcome.events)
        decision = _decision(item, self._topic(item), "applied", None, now, entries)
        return decision, self.outbox.stage(_record(outcome.report, decision), entries, now)


def _refused_here(verdict: Verdict, key: str) -> OrphanOutcome | None:
    """A refusal decided earlier in this verdict (the same action twice in one batch)."""
    return next((o for o in verdict.orphans if o.key == key), None)


def _decisions(stored: Mapping[str, Report], item: Decoded) -> list[Decision]:
    report = stored.get(_report_of(item))
    return report.decisions if report is not None else []


def _decision(
    item: Decoded,
    topic: str,
    outcome: Literal["applied", "refused"],
    reason: str | None,
    now: datetime,
    entries: list[OutboxEntry],
) -> Decision:
    return Decision(
        topic=topic,
        message_id=item.envelope.id,
        payload_hash=item.payload_hash,
        action_type=item.envelope.type,
        outcome=outcome,
        reason=reason,
        decided_at=now,
        events=entries,
    )


def _record(report: Report, decision: Decision) -> Report:
    """The report with an applied ``decision`` recorded, in the write of its effect."""
    return report.model_copy(update={"decisions": [*report.decisions, decision]})


def _bump(report: Report) -> Report:
    """The report with its version moved on: a refusal recorded outside it must make a
    racing writer that read the same version lose (and then find the refusal)."""
    return report.model_copy(update={"version": report.version + 1})


class ActionProcessor:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.uow = runtime.unit_of_work()

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        batch_in = await intake(self.rt.store, self.rt.catalogue, batch, self.rt.now(), _report_of)
        poisons = list(batch_in.poisons)
        preloaded: Mapping[str, Report] | None = batch_in.stored
        # At most PER_WRITE actions of one report go into one write, and no more once
        # their entries pass WRITE_BYTES, so one write adds a bounded number of bytes to
        # its document; a report with more is written again (reloaded) for the next
        # ones, in order (docs/bounded-reports.md).
        waiting = {rid: list(items) for rid, items in batch_in.by_report.items()}
        while waiting:
            part = {rid: items[:PER_WRITE] for rid, items in waiting.items()}
            decider = AnswerActions(part, self.rt.store, self.rt.outbox, self.rt.catalogue)
            with tracing.reports(part):
                result = await self.uow.run(part, decider, preloaded=preloaded)
            preloaded = None
            await self.uow.publish(result)
            refused = sum(n for rid, n in decider.refused.items() if rid in result.verdicts)
            if refused:
                self.rt.counters.add(batch[0].topic, REFUSED, refused)
            later = {rid: waiting[rid][PER_WRITE:] for rid in result.failed}
            poisons += [*result.poisons, *set_aside(result.failed, part)]
            poisons += set_aside(result.failed, later)  # in order, with the same reason
            waiting = {
                rid: [*decider.deferred.get(rid, []), *items[PER_WRITE:]]
                for rid, items in waiting.items()
                if rid not in result.failed
            }
            waiting = {rid: items for rid, items in waiting.items() if items}
        return poisons


def _spec(name: str, topic: str) -> ProcessorSpec:
    return ProcessorSpec(name=name, topics=(topic,), create=ActionProcessor, latency_sensitive=True)


PARTNER_ACTIONS = _spec("partner-actions", "lmp.partner-actions.v1")
DISTRIBUTOR_ACTIONS = _spec("distributor-actions", "lmp.distributor-actions.v1")
TRENDMICRO_RESPONSES = _spec("trendmicro-responses", "lmp.trendmicro-responses.v1")
