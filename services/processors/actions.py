"""Partner actions, distributor review actions and Trend Micro responses.

Three processors, one shape: each action reaches ``services.domain.workflow.decide``
in one hop; the new report and its events are written together (outbox), and a
refusal becomes ``lmp.action.rejected`` carrying the action id and the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial

from schemas.events import ActionRejected
from schemas.report import Report
from services.adapters.codec import Decoded, InboundMessage, Poison
from services.adapters.counters import REFUSED
from services.app import ProcessorSpec, Runtime
from services.domain.errors import Refused
from services.domain.events import DomainEvent
from services.domain.ids import event_id
from services.domain.workflow import ActionContext, ConflictingDuplicate, decide
from services.processors.common import intake

MAX_RACE_RETRIES = 20


def refusal_event(item: Decoded, reason: str, at_time: object) -> DomainEvent:
    data = item.data
    actor = getattr(data, "actor", None)
    report_id = getattr(data, "report_id", None)
    return DomainEvent(
        id=event_id(report_id or "-", "action-rejected", item.envelope.id),
        type="lmp.action.rejected",
        subject=report_id,  # type: ignore[arg-type]
        time=at_time,  # type: ignore[arg-type]
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


class ActionProcessor:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        now = self.rt.clock()
        batch_in = await intake(self.rt.store, self.rt.catalogue, batch, now, _report_of)
        saved, refusals, late_conflicts = await self._apply(batch_in.by_report, batch_in.stored)
        await self.rt.outbox.drain(saved)
        await self.rt.outbox.publish_events(refusals)
        if refusals:
            self.rt.counters.add(batch[0].topic, REFUSED, len(refusals))
        return batch_in.poisons + late_conflicts

    async def _apply(
        self, by_report: dict[str, list[Decoded]], preloaded: dict[str, Report]
    ) -> tuple[list[Report], list[DomainEvent], list[Poison]]:
        saved: dict[str, Report] = {}
        refusals: dict[str, DomainEvent] = {}
        conflicts: dict[str, Poison] = {}
        todo = dict(by_report)
        for _ in range(MAX_RACE_RETRIES):
            if not todo:
                return list(saved.values()), list(refusals.values()), list(conflicts.values())
            stored = preloaded if preloaded else await self.rt.store.load_reports(todo)
            preloaded = {}
            codes = {
                line.promo_code
                for items in todo.values()
                for item in items
                for line in getattr(item.data, "lines", [])
                if getattr(line, "promo_code", None)
            }
            prices, promotions = await asyncio.gather(
                self.rt.store.price_lists(r.region for r in stored.values()),
                self.rt.store.load_promotions(codes),
            )
            changes: list[tuple[Report, int | None]] = []
            for rid, items in todo.items():
                report = stored.get(rid)
                original = report
                events: list[DomainEvent] = []
                for item in items:
                    now = self.rt.clock()
                    ctx = ActionContext(
                        message_id=item.envelope.id,
                        payload_hash=item.payload_hash,
                        action_type=item.envelope.type,
                        now=now,
                        prices=prices.get(report.region or "", {}) if report else {},
                        promotions=promotions,
                    )
                    try:
                        outcome = decide(report, item.data, ctx)
                    except Refused as refused:
                        refusals[item.envelope.id] = refusal_event(item, refused.reason, now)
                        continue
                    except ConflictingDuplicate:
                        conflicts[item.envelope.id] = Poison(
                            item.message,
                            "conflict",
                            f"message id {item.envelope.id!r} was applied before with a "
                            "different payload",
                            item.envelope.id,
                        )
                        continue
                    report = outcome.report
                    events += outcome.events
                if report is not None and original is not None and report is not original:
                    staged = self.rt.outbox.stage(report, events, self.rt.clock())
                    changes.append((staged, original.version))
            lost = await self.rt.store.save_reports(changes)
            saved.update({r.id: r for r, _ in changes if r.id not in lost})
            for rid in lost:
                for item in todo[rid]:
                    refusals.pop(item.envelope.id, None)
                    conflicts.pop(item.envelope.id, None)
            todo = {rid: todo[rid] for rid in lost}
        raise RuntimeError(f"reports still contended after {MAX_RACE_RETRIES} tries: {list(todo)}")


def _spec(name: str, topic: str) -> ProcessorSpec:
    return ProcessorSpec(
        name=name, topics=(topic,), create=partial(ActionProcessor), latency_sensitive=True
    )


PARTNER_ACTIONS = _spec("partner-actions", "lmp.partner-actions.v1")
DISTRIBUTOR_ACTIONS = _spec("distributor-actions", "lmp.distributor-actions.v1")
TRENDMICRO_RESPONSES = _spec("trendmicro-responses", "lmp.trendmicro-responses.v1")
