"""A processor's counts for the metrics endpoint, added to the database now and then.

Each processor counts in memory and flushes with ``$inc`` every few seconds, off the
message path; the read API sums the stored counters for Prometheus. A crash loses at
most the counts of one flush interval, never a message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

PROCESSED = "processed"
REFUSED = "refused"
DEAD_LETTERED = "dead_lettered"
TIMER_RUNS = "timer_runs"
AUTO_SUBMITTED = "auto_submitted"
REMINDERS_SENT = "reminders_sent"
TIMER_SKIPPED = "timer_skipped"
"""Reports the timer could not process (bad data); logged with the reason, retried next pass."""
REPORTS_PURGED = "reports_purged"
RECEIPTS_PURGED = "receipts_purged"
DEAD_LETTERS_LOST = "dead_letters_lost"
"""Poison whose dead letter could not be published at all (logged); the partition moved on."""


class Counters:
    def __init__(self) -> None:
        self._pending: Counter[tuple[str, str]] = Counter()

    def add(self, topic: str, name: str, amount: int = 1) -> None:
        if amount:
            self._pending[(topic, name)] += amount

    def take(self) -> dict[tuple[str, str], int]:
        """Everything counted since the last take; the caller flushes or gives it back."""
        taken, self._pending = dict(self._pending), Counter()
        return taken

    def give_back(self, taken: Mapping[tuple[str, str], int]) -> None:
        self._pending.update(taken)
