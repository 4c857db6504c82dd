"""How a report's document stays bounded whatever arrives: which recorded answers and
which history entries stay inline, and which are moved out (docs/bounded-reports.md).

Refusals never enter the document (they are kept in ``outcomes``). Applied decisions
and history entries are appended by every change; once a stored report holds more
than ``KEEP_*`` of either, the writer moves the oldest down to ``KEEP_* // 2`` into
insert-once collections (``answers`` by topic and message id, ``history`` by report
and sequence) and writes the report without them, conditionally as always. Only
entries of the stored, committed version move: an entry decided in a write that then
loses its race is never kept anywhere. An action processor writes at most
``PER_WRITE`` actions of one report at a time, so one write adds at most that many.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from schemas.report import HistoryRecord, OrphanOutcome, Report

log = logging.getLogger(__name__)

KEEP_DECISIONS = 32
"""Applied decisions a stored report keeps inline before the oldest move out."""
KEEP_HISTORY = 64
"""History entries a stored report keeps inline before the oldest move out."""
PER_WRITE = 64
"""The most actions of one report an action processor decides into one write."""


def answer_key(topic: str, message_id: str) -> str:
    """Where an answer kept outside its report is found: ``<topic>|<message id>``."""
    return f"{topic}|{message_id}"


def history_key(report_id: str, seq: int) -> str:
    """A moved history entry's key; zero-padded so keys sort as the history does."""
    return f"{report_id}|{seq:012d}"


@dataclass
class Settlement:
    report: Report
    """The report to write, without the entries moved out."""
    answers: list[OrphanOutcome] = field(default_factory=list)
    history: list[HistoryRecord] = field(default_factory=list)


def settle(stored: Report | None, after: Report) -> Settlement:
    """``after`` (decided from ``stored``) with the committed overflow moved out.

    Both lists are append-only from one version to the next, so ``after`` starts with
    the entries of ``stored``; when it does not (a rule that rewrote them), nothing
    moves and the next write tries again.
    """
    if stored is None:
        return Settlement(after)
    moved_decisions = _overflow(len(stored.decisions), KEEP_DECISIONS)
    moved_history = _overflow(len(stored.history), KEEP_HISTORY)
    if not moved_decisions and not moved_history:
        return Settlement(after)
    if not _starts_with(stored, after, moved_decisions, moved_history):
        log.warning("report %s: its recorded entries were rewritten; none moved", after.id)
        return Settlement(after)
    answers = [
        OrphanOutcome(
            key=answer_key(d.topic, d.message_id), report_id=after.id, decision=d, at=d.decided_at
        )
        for d in stored.decisions[:moved_decisions]
    ]
    history = [
        HistoryRecord(
            key=history_key(after.id, stored.history_archived + i),
            report_id=after.id,
            seq=stored.history_archived + i,
            entry=entry,
        )
        for i, entry in enumerate(stored.history[:moved_history])
    ]
    report = after.model_copy(
        update={
            "decisions": after.decisions[moved_decisions:],
            "decisions_archived": after.decisions_archived + moved_decisions,
            "history": after.history[moved_history:],
            "history_archived": after.history_archived + moved_history,
        }
    )
    return Settlement(report, answers, history)


def _overflow(count: int, keep: int) -> int:
    """How many of ``count`` inline entries move: none up to ``keep``, then down to half."""
    return count - keep // 2 if count > keep else 0


def _starts_with(stored: Report, after: Report, decisions: int, history: int) -> bool:
    if after.decisions_archived != stored.decisions_archived:
        return False
    if after.history_archived != stored.history_archived:
        return False
    if len(after.decisions) < decisions or len(after.history) < history:
        return False
    same_decisions = all(
        (a.topic, a.message_id) == (s.topic, s.message_id)
        for a, s in zip(after.decisions[:decisions], stored.decisions[:decisions], strict=True)
    )
    same_history = all(
        (a.at, a.action, a.message_id) == (s.at, s.action, s.message_id)
        for a, s in zip(after.history[:history], stored.history[:history], strict=True)
    )
    return same_decisions and same_history
