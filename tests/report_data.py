"""A data set of report documents for the read side's tests and benchmarks, in every
state, over many partners, distributors and cycles (each one ``tests.builders.report``)."""

from __future__ import annotations

import random
from collections.abc import Iterator

from schemas.report import (
    Report,
    ReportStatus,
    SubmissionKind,
)
from tests.builders import report

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
