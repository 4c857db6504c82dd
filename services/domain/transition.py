"""What every transition of the review workflow shares: the action's context, the status
guard, the history entry, and the finish (version, history, figures, event)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from schemas.report import ActorKind, HistoryEntry, Report, ReportLine, ReportStatus
from services.domain.errors import ValidationFailed, WrongStatus
from services.domain.events import Outcome, report_event
from services.domain.figures import recompute_report
from services.domain.labels import REPORT_STATUS_NAMES
from services.domain.pricing import PriceList, Promotions
from services.domain.versions import touched


@dataclass(frozen=True)
class ActionContext:
    """What the core needs besides the report: the message's identity, time and prices."""

    message_id: str
    payload_hash: str
    action_type: str
    now: datetime
    prices: PriceList = field(default_factory=dict)
    promotions: Promotions = field(default_factory=dict)


def history_entry(
    report: Report,
    action: BaseModel,
    ctx: ActionContext,
    kind: ActorKind,
    to: ReportStatus,
    note: str | None = None,
) -> HistoryEntry:
    actor = getattr(action, "actor", None)
    return HistoryEntry(
        at=ctx.now,
        actor_kind=kind,
        account_id=actor.account_id if actor else None,
        user_id=actor.user_id if actor else None,
        action=ctx.action_type,
        message_id=ctx.message_id,
        payload_hash=ctx.payload_hash,
        from_status=report.status,
        to_status=to,
        note=note,
    )


def require_status(report: Report, allowed: frozenset[ReportStatus], what: str) -> None:
    if report.status not in allowed:
        names = " or ".join(sorted(REPORT_STATUS_NAMES[s] for s in allowed))
        raise WrongStatus(
            f"cannot {what}: the report is {REPORT_STATUS_NAMES[report.status]}, it must be {names}"
        )


def line_of(report: Report, product_id: str) -> ReportLine:
    for line in report.lines:
        if line.product_id == product_id:
            return line
    raise ValidationFailed(f"the report has no line for product {product_id}")


def finish(
    after: Report,
    entry: HistoryEntry,
    ctx: ActionContext,
    kind: str,
    **details: Any,
) -> Outcome:
    touched(after, ctx.now)
    after.history.append(entry)
    after = recompute_report(after)
    event = report_event(
        after,
        kind,
        ctx.now,
        cause=ctx.message_id,
        by_account_id=entry.account_id,
        by_user_id=entry.user_id,
        **details,
    )
    return Outcome(report=after, events=[event], changed=True)
