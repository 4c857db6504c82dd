"""Report documents for read-side tests and benchmarks, built through the domain's figures.

Line A: 15 provisioned, 13 used, 8.00 at a 0.05 margin (98.80); line B: 4 units at 15.00
(60.00); every report totals 158.80.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from schemas.report import (
    ActorKind,
    HistoryEntry,
    Report,
    ReportLine,
    ReportStatus,
    SubmissionKind,
    SubscriptionUsage,
)
from services.domain.calendar import automatic_submission_deadline
from services.domain.figures import recompute_report

GAMMA_NAME = 'Gamma, "Quoted" Ltd'

PARTNERS = {
    "P-ACME": ("Acme Cloud", "D1"),
    "P-BETA": ("Beta Services", "D1"),
    "P-GAMMA": (GAMMA_NAME, "D1"),
    "P-EQ": ("=Formula Inc", "D1"),
    "P-DELTA": ("Delta IT", "D2"),
}


def report(
    partner_id: str,
    cycle: str,
    status: ReportStatus,
    kind: SubmissionKind | None = None,
    po_number: str | None = None,
    comment: str | None = None,
    distributor: str | None = None,
    name: str | None = None,
) -> Report:
    known_name, known_distributor = PARTNERS.get(partner_id, (f"Bulk {partner_id}", "D1"))
    name = name or known_name
    distributor = distributor or known_distributor
    lines = [
        ReportLine(
            product_id="PROD-A",
            subscriptions=[
                SubscriptionUsage(subscription_id="S1", provisioned_units=15, used_units=13)
            ],
            partner_comment=comment,
            list_unit_price=Decimal("8.00"),
            unit_price=Decimal("8.00"),
            channel_margin=Decimal("0.05"),
            standard_channel_margin=Decimal("0.05"),
        ),
        ReportLine(
            product_id="PROD-B",
            subscriptions=[SubscriptionUsage(subscription_id="S2", provisioned_units=4)],
            unit_price=Decimal("15.00"),
            channel_margin=Decimal("0"),
        ),
    ]
    created = datetime(int(cycle[:4]), int(cycle[5:]), 2, tzinfo=UTC)
    return recompute_report(
        Report(
            _id=f"{partner_id}:{cycle}",
            partner_id=partner_id,
            cycle=cycle,
            partner_name=name,
            distributor_id=distributor,
            region="EU",
            currency="EUR",
            auto_submit_days=5,
            overprovision_threshold_pct=Decimal("0"),
            account_pending=False,
            status=status,
            submission_kind=kind,
            po_number=po_number,
            deadline=automatic_submission_deadline(cycle, 5),
            lines=lines,
            history=[
                HistoryEntry(
                    at=created,
                    actor_kind=ActorKind.UPSTREAM,
                    action="report-opened",
                    message_id="m-1",
                    to_status=ReportStatus.MSP_PREPARING,
                )
            ],
            version=3,
            created_at=created,
            updated_at=created + timedelta(days=1),
        )
    )


_STATES = [
    (ReportStatus.MSP_PREPARING, None),
    (ReportStatus.UNDER_REVIEW, SubmissionKind.MANUAL),
    (ReportStatus.UNDER_REVIEW, SubmissionKind.AUTOMATIC),
    (ReportStatus.UNDER_REVIEW, SubmissionKind.AUTOMATIC_WITH_PENALTIES),
    (ReportStatus.REJECTED, SubmissionKind.MANUAL),
    (ReportStatus.SUBMITTED_TO_TRENDMICRO, SubmissionKind.MANUAL),
    (ReportStatus.RETURNED_BY_TRENDMICRO, SubmissionKind.AUTOMATIC),
    (ReportStatus.COMPLETED, SubmissionKind.MANUAL),
]


def bulk(count: int, distributors: int, cycles: list[str], seed: int = 7) -> Iterator[Report]:
    """``count`` reports spread over partners, distributors, cycles and every state."""
    rng = random.Random(seed)
    partners = -(-count // len(cycles))
    for n in range(count):
        partner = n % partners
        cycle = cycles[n // partners]
        status, kind = rng.choice(_STATES)
        yield report(
            f"P{partner:06d}",
            cycle,
            status,
            kind,
            distributor=f"D{partner % distributors:03d}",
            name=f"Partner {partner:06d} {rng.choice(['Cloud', 'IT', 'Secure', 'Net'])}",
        )
