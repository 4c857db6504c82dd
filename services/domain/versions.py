"""Every change to a report moves its version on: writes are conditional on it."""

from __future__ import annotations

from datetime import datetime

from schemas.report import Report


def touched(report: Report, now: datetime) -> Report:
    """``report``, changed in place: one version on, updated at ``now`` (what every change
    of a report records, so that a racing writer that read the old version loses)."""
    report.version += 1
    report.updated_at = now
    return report
