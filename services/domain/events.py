"""Domain events: what the core decided, ready to be committed with the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from schemas.events import ReportEvent
from schemas.report import Report
from services.domain.ids import event_id
from services.domain.status import status_code


@dataclass(frozen=True)
class DomainEvent:
    """An outbound event; its id is deterministic so consumers can de-duplicate."""

    id: str
    type: str
    subject: str
    time: datetime
    data: BaseModel


def report_event(
    report: Report,
    kind: str,
    at: datetime,
    *,
    cause: str | None = None,
    event_cls: type[ReportEvent] = ReportEvent,
    **details: object,
) -> DomainEvent:
    """``lmp.report.<kind>`` describing the report as it now stands."""
    data = event_cls.model_validate(
        {
            "report_id": report.id,
            "partner_id": report.partner_id,
            "distributor_id": report.distributor_id,
            "cycle": report.cycle,
            "status": report.status,
            "status_code": status_code(report.status),
            "submission_kind": report.submission_kind,
            "version": report.version,
            "deadline": report.deadline,
            "caused_by": cause,
            **details,
        }
    )
    return DomainEvent(
        id=event_id(report.id, kind, cause),
        type=f"lmp.report.{kind}",
        subject=report.id,
        time=at,
        data=data,
    )


@dataclass
class Outcome:
    """The report after a rule ran, the events to publish, and whether it changed."""

    report: Report
    events: list[DomainEvent] = field(default_factory=list)
    changed: bool = False
