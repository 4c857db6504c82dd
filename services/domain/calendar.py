"""Cycles, deadlines and retention, all in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

RETENTION_YEARS = 2


def cycle_start(cycle: str) -> datetime:
    year, month = (int(part) for part in cycle.split("-"))
    return datetime(year, month, 1, tzinfo=UTC)


def cycle_end(cycle: str) -> datetime:
    """The first instant after the cycle: midnight UTC on the first day of the next month."""
    start = cycle_start(cycle)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def automatic_submission_deadline(cycle: str, auto_submit_days: int) -> datetime:
    """SPEC: first day after the cycle plus the partner's ``auto_submit_days``."""
    return cycle_end(cycle) + timedelta(days=auto_submit_days)


def retention_expiry(cycle: str) -> datetime:
    """Reports are kept two years after their cycle ends."""
    end = cycle_end(cycle)
    return end.replace(year=end.year + RETENTION_YEARS)


def cycle_of(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def months_back(now: datetime, months: int) -> tuple[str, str]:
    """The first and last cycle of the ``months`` cycles ending with the current one."""
    utc = now.astimezone(UTC)
    index = utc.year * 12 + utc.month - 1 - (months - 1)
    return f"{index // 12:04d}-{index % 12 + 1:02d}", cycle_of(utc)


def stored_precision(moment: datetime) -> datetime:
    """``moment`` cut to milliseconds, the precision BSON dates keep.

    Every time the system decides with is cut first, so an event never says a time the
    database (and so the read API) cannot say back.
    """
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
