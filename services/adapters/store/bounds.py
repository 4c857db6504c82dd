"""How a report's document stays bounded whatever arrives: which recorded answers and
which history entries stay inline, and which are moved out (docs/bounded-reports.md).

Refusals never enter the document (they are kept in ``outcomes``). Applied decisions
and history entries are appended by every change; once a stored report holds more
than ``KEEP_*`` of either (in number or in size), the writer moves the oldest until
half of each limit is left into
insert-once collections (``answers`` by topic and message id, ``history`` by report
and sequence) and writes the report without them, conditionally as always. Only
entries of the stored, committed version move: an entry decided in a write that then
loses its race is never kept anywhere. An action processor writes at most
``PER_WRITE`` actions of one report at a time, and stops adding them once their entries
pass ``WRITE_BYTES`` (the usage processor likewise for late usage), so one write adds at
most that plus one action's own entries; the estimates (``*_bytes``) never undercount
the stored BSON, so the bound in docs/bounded-reports.md holds on the bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from schemas.report import (
    Decision,
    HistoryEntry,
    HistoryRecord,
    OrphanOutcome,
    OutboxEntry,
    Report,
)

log = logging.getLogger(__name__)

KEEP_DECISIONS = 2
"""Applied decisions a stored report keeps inline before the oldest move out (down to
one). Few: every applied decision moves out sooner or later (one insert into
``answers`` each, whenever it goes), while every write, read and clear of the report
costs the database and the processor in proportion to the document's size, and an
answer with its event is about 700 bytes (benchmarks.bench_actions at 400 a second,
issue 18: 32 kept, p99 266-356 ms; 8, 153-268 ms; 2 with ``KEEP_HISTORY`` 8, 78-136 ms).
A redelivery of a moved answer is looked up in ``answers``, in the round trip every
batch on a report with moved answers makes anyway."""
KEEP_DECISION_BYTES = 64 * 1024
"""...and their size (estimated) before the oldest move out."""
KEEP_HISTORY = 8
"""History entries a stored report keeps inline before the oldest move out (down to
four); about 360 bytes each. A reader of one report gets its latest entries from the
document and the older ones it asks for from ``history``."""
KEEP_HISTORY_BYTES = 32 * 1024
"""...and their size (estimated) before the oldest move out."""
PER_WRITE = 64
"""The most actions of one report an action processor decides into one write."""
WRITE_BYTES = 64 * 1024
"""What one write may add to a report's answers, history and outbox (``added_bytes``)
before the writer stops adding to it: the entry that crosses it is the write's last, the
rest go into the next write, in order. So one write adds at most this plus one action's
(or one usage record's) own entries."""

INLINE_BOUND = KEEP_DECISION_BYTES + KEEP_HISTORY_BYTES + WRITE_BYTES
"""The answers, history and outbox of a written report, besides one action's own entries:
what a stored version keeps (at most ``KEEP_*_BYTES``, or half of them once moved out)
plus what one write adds before it stops (``WRITE_BYTES``)."""
ACTION_TEXT = 50 * 2000
"""The most free text one action carries (schemas/actions.py): a rejection's 50 reasons
of 2,000 characters; every other action carries at most 4,000."""
ONE_ACTION_BOUND = 4 * ACTION_TEXT + 2 * 6 * ACTION_TEXT + 64 * 1024
"""What one action's own entries can add, text of the most costly characters: its history
note (4 bytes a character in UTF-8), its event twice (in its answer and in the outbox;
6 bytes a character JSON escapes), and 64 KiB for ids, names and the event's other
fields. A submission to Trend Micro adds, besides, its billing report's lines as JSON
twice (docs/bounded-reports.md)."""


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
    if stored is None or (
        len(after.decisions) == len(stored.decisions) and len(after.history) == len(stored.history)
    ):
        return Settlement(after)  # nothing appended: the document grows by nothing here
    moved_decisions = _overflow(
        [decision_bytes(d) for d in stored.decisions], KEEP_DECISIONS, KEEP_DECISION_BYTES
    )
    moved_history = _overflow(
        [entry_bytes(e) for e in stored.history], KEEP_HISTORY, KEEP_HISTORY_BYTES
    )
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


def _overflow(sizes: list[int], keep: int, keep_bytes: int) -> int:
    """How many of the oldest inline entries (of these sizes) move: none while there are
    at most ``keep`` of at most ``keep_bytes``, else enough to leave half of each."""
    count, total = len(sizes), sum(sizes)
    if count <= keep and total <= keep_bytes:
        return 0
    moved = 0
    while moved < count and (count - moved > keep // 2 or total > keep_bytes // 2):
        total -= sizes[moved]
        moved += 1
    return moved


_DECISION_OVERHEAD = 160
"""A decision's BSON besides its strings' UTF-8 bytes: field names, types, lengths, its
date, the array index it is stored under (146 bytes counted; ``tests/unit`` checks)."""
_EVENT_OVERHEAD = 64
"""An outbox entry's BSON besides its four strings' bytes (56 counted)."""
_ENTRY_OVERHEAD = 288
"""A history entry's BSON besides its free strings' bytes: names, types, lengths, its
date, its actor kind and two statuses at their longest (270 counted)."""


def _utf8(text: str | None) -> int:
    return len(text.encode("utf-8", "surrogatepass")) if text else 0


def event_bytes(entry: OutboxEntry) -> int:
    """An upper bound on an outbox entry's stored size (BSON), from its strings' bytes."""
    strings = (entry.id, entry.topic, entry.key, entry.value)
    return _EVENT_OVERHEAD + sum(_utf8(s) for s in strings)


def decision_bytes(decision: Decision) -> int:
    """An upper bound on a decision's stored size (BSON), its events included; from its
    strings' bytes, cheaper than encoding it."""
    strings = (
        decision.topic,
        decision.message_id,
        decision.payload_hash,
        decision.action_type,
        decision.reason,
    )
    events = sum(event_bytes(e) for e in decision.events)
    return _DECISION_OVERHEAD + sum(_utf8(s) for s in strings) + events


def entry_bytes(entry: HistoryEntry) -> int:
    """An upper bound on a history entry's stored size (BSON)."""
    strings = (
        entry.account_id,
        entry.user_id,
        entry.action,
        entry.message_id,
        entry.payload_hash,
        entry.note,
    )
    return _ENTRY_OVERHEAD + sum(_utf8(s) for s in strings)


def added_bytes(before: Report | None, after: Report) -> int:
    """An upper bound on what ``after`` (decided from ``before``) appends to its answers,
    history and outbox, in stored bytes: what ``WRITE_BYTES`` limits."""
    decisions, history, outbox = (
        (len(before.decisions), len(before.history), len(before.outbox)) if before else (0, 0, 0)
    )
    return (
        sum(decision_bytes(d) for d in after.decisions[decisions:])
        + sum(entry_bytes(e) for e in after.history[history:])
        + sum(event_bytes(e) for e in after.outbox[outbox:])
    )


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
