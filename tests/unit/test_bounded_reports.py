"""A report's document stays bounded whatever arrives on it (docs/bounded-reports.md):
refusals are kept outside it, the oldest applied answers and history entries move out,
and every answer is still given again byte for byte, every history entry still read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
import pytest

from schemas.report import Decision, HistoryEntry, OutboxEntry, Report, ReportStatus
from services.adapters.store.bounds import (
    INLINE_BOUND,
    KEEP_DECISIONS,
    KEEP_HISTORY,
    ONE_ACTION_BOUND,
    PER_WRITE,
    answer_key,
    decision_bytes,
    entry_bytes,
    event_bytes,
    history_key,
    settle,
)
from services.domain.workflow import RETURN_REASONS_KEPT
from tests.builders import Record, action
from tests.builders import usage as usage_record
from tests.fakes import Shell
from tests.unit.in_memory import (
    EXPLAINED,
    PARTNER_ACTIONS,
    REPORT,
    handle,
    open_report,
    raw_values,
    report,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def decided(n: int) -> Decision:
    return Decision(
        topic=PARTNER_ACTIONS,
        message_id=f"m{n}",
        payload_hash="h",
        action_type="lmp.partner.draft-saved",
        outcome="applied",
        decided_at=NOW + timedelta(seconds=n),
    )


def entry(n: int) -> HistoryEntry:
    return HistoryEntry(at=NOW + timedelta(seconds=n), actor_kind="partner", action=f"a{n}")


def long_report(decisions: int, history: int, **fields: object) -> Report:
    return Report.model_validate(
        {
            "_id": "R:2026-10",
            "partner_id": "R",
            "cycle": "2026-10",
            "created_at": NOW,
            "updated_at": NOW,
            "decisions": [decided(n) for n in range(decisions)],
            "history": [entry(n) for n in range(history)],
            **fields,
        }
    )


def test_a_short_report_moves_nothing() -> None:
    stored = long_report(KEEP_DECISIONS, KEEP_HISTORY)
    after = long_report(KEEP_DECISIONS + 5, KEEP_HISTORY + 5)
    settled = settle(stored, after)
    assert (settled.report, settled.answers, settled.history) == (after, [], [])
    assert settle(None, after).report is after


def test_only_committed_entries_move_and_the_newest_stay_inline() -> None:
    stored = long_report(KEEP_DECISIONS + 1, KEEP_HISTORY + 1, history_archived=10)
    after = long_report(KEEP_DECISIONS + 40, KEEP_HISTORY + 40, history_archived=10)
    settled = settle(stored, after)
    moved_d = KEEP_DECISIONS + 1 - KEEP_DECISIONS // 2
    moved_h = KEEP_HISTORY + 1 - KEEP_HISTORY // 2
    assert [a.key for a in settled.answers] == [
        answer_key(PARTNER_ACTIONS, f"m{n}") for n in range(moved_d)
    ]
    assert [h.key for h in settled.history] == [
        history_key("R:2026-10", 10 + n) for n in range(moved_h)
    ]
    assert [h.entry.action for h in settled.history] == [f"a{n}" for n in range(moved_h)]
    kept = settled.report
    assert kept.decisions == after.decisions[moved_d:]  # every new one stays inline
    assert kept.history == after.history[moved_h:]
    assert (kept.decisions_archived, kept.history_archived) == (moved_d, 10 + moved_h)


def test_few_but_large_entries_move_out_by_their_size() -> None:
    big = "r" * 20_000
    noted = [entry(n).model_copy(update={"note": big}) for n in range(4)]
    stored = long_report(0, 0).model_copy(update={"history": noted})
    after = stored.model_copy(update={"history": [*stored.history, entry(9)]})
    settled = settle(stored, after)
    assert [h.entry.action for h in settled.history] == ["a0", "a1", "a2", "a3"]
    assert [e.action for e in settled.report.history] == ["a9"]


def test_a_report_whose_entries_were_rewritten_moves_nothing() -> None:
    stored = long_report(KEEP_DECISIONS + 10, 0)
    after = long_report(KEEP_DECISIONS + 11, 0)
    after.decisions[0] = decided(999)
    assert settle(stored, after).answers == []


async def test_a_flood_of_refusals_and_drafts_leaves_a_bounded_report_answering_as_first() -> None:
    shell = Shell()
    await open_report(shell)
    stranger = [
        action("lmp.partner.draft-saved", "P", "Q", id_=f"no-{i}", lines=EXPLAINED)
        for i in range(900)
    ]
    drafts = [
        action("lmp.partner.draft-saved", "P", "P", id_=f"ok-{i}", lines=EXPLAINED)
        for i in range(300)
    ]
    mixed = [r for pair in zip(stranger[:300], drafts, strict=True) for r in pair]
    assert await handle(shell, "partner-actions", *mixed) == []  # one batch, several writes
    assert await handle(shell, "partner-actions", *stranger[300:]) == []
    stored = await report(shell)
    size = len(bson.encode(stored.to_document()))
    assert size < 256 * 1024
    assert len(stored.decisions) <= KEEP_DECISIONS + PER_WRITE
    assert len(stored.history) <= KEEP_HISTORY + PER_WRITE
    assert stored.decisions_archived + len(stored.decisions) == 300
    assert all(d.outcome == "applied" for d in stored.decisions)

    first_refusal = f"{REPORT}/action-rejected/no-0"
    first_draft = f"{REPORT}/draft-saved/ok-0"
    [refused_once] = raw_values(shell, first_refusal)
    [applied_once] = raw_values(shell, first_draft)
    again = [stranger[0], drafts[0], drafts[-1]]
    assert await handle(shell, "partner-actions", *again) == []
    assert raw_values(shell, first_refusal) == [refused_once, refused_once]
    assert raw_values(shell, first_draft) == [applied_once, applied_once]
    assert (await report(shell)).decisions_archived + len((await report(shell)).decisions) == 300

    whole = await shell.store.read_report(REPORT)
    assert whole is not None
    drafted = [e.message_id for e in whole.history if e.action == "lmp.partner.draft-saved"]
    assert drafted == [f"ok-{i}" for i in range(300)]  # every entry, in order, once


async def test_a_changed_payload_under_a_moved_answers_id_is_a_conflict() -> None:
    shell = Shell()
    await open_report(shell)
    drafts = [
        action("lmp.partner.draft-saved", "P", "P", id_=f"ok-{i}", lines=EXPLAINED)
        for i in range(KEEP_DECISIONS + PER_WRITE + 1)
    ]
    for start in range(0, len(drafts), 20):
        await handle(shell, "partner-actions", *drafts[start : start + 20])
    assert (await report(shell)).decisions_archived > 0
    other = action("lmp.partner.draft-saved", "P", "P", id_="ok-0", lines=[{"product_id": "AV"}])
    poisons = await handle(shell, "partner-actions", other)
    assert [p.kind for p in poisons] == ["conflict"]


# The largest actions the schemas allow (schemas/actions.py), in the characters that
# cost most: 4 bytes each in UTF-8 (BSON), 6 in JSON (a control character, escaped).
WIDE = "\U0001f600" * 1000 + "\x01" * 1000  # 2,000 characters
LONG_ID = "i" * 200  # long ids (test_event_ids.py takes one to the 300 bound)
WIDE_LINES = [{"product_id": "AV", "comment": WIDE}]  # the report has one line


def _act(type_: str, actor: str, id_: str, **data: Any) -> Record:
    return action(type_, "P", actor, id_=f"{LONG_ID}{id_}", **data)


def partner_round(n: int) -> list[Record]:
    drafts = [
        _act("lmp.partner.draft-saved", "P", f"pd{n}-{i}", lines=WIDE_LINES) for i in range(70)
    ]
    stranger = _act("lmp.partner.draft-saved", "Q", f"pq{n}", lines=WIDE_LINES)
    submit = _act("lmp.partner.report-submitted", "P", f"ps{n}", lines=WIDE_LINES)
    return [*drafts, stranger, submit]


def distributor_drafts(n: int, count: int) -> list[Record]:
    lines = [{"product_id": "AV"}]
    return [
        _act("lmp.distributor.draft-saved", "D1", f"dd{n}-{i}", po_number="P" * 100, lines=lines)
        for i in range(count)
    ]


def to_trendmicro(n: int) -> Record:
    return _act(
        "lmp.distributor.submitted-to-trendmicro",
        "D1",
        f"dt{n}",
        po_number="P" * 100,
        comment=WIDE * 2,
    )


async def test_a_flood_of_the_largest_actions_keeps_every_write_under_the_stated_bound() -> None:
    """Every kind of action at the largest the schemas allow, many per batch, and a
    late-usage peak: each report written is at most its own fields, what a stored
    version keeps inline and what one write adds (INLINE_BOUND), and one action's own
    entries (ONE_ACTION_BOUND)."""
    shell = Shell()
    await open_report(shell)
    written: list[tuple[int, int]] = []
    save = shell.store.save_reports

    async def measured(changes: Sequence[tuple[Report, int | None]]) -> set[str]:
        for after, _ in changes:
            own = after.model_copy(update={"decisions": [], "history": [], "outbox": []})
            written.append((_size(after), _size(own)))
        return await save(changes)

    shell.store.save_reports = measured  # type: ignore[method-assign]
    for n in range(5):
        assert await handle(shell, "partner-actions", *partner_round(n)) == []
        late = [
            usage_record(
                "P",
                sub=f"{'S' * 190}{n:04d}{i:04d}",
                provisioned=5,
                used=2,
                id_=f"{LONG_ID}u{n}-{i}",
            )
            for i in range(150)
        ]
        assert await handle(shell, "usage", *late) == []
        reject = _act("lmp.distributor.report-rejected", "D1", f"dr{n}", reasons=[WIDE] * 50)
        flood = [*distributor_drafts(n, 70), reject, *distributor_drafts(n + 100, 3)]
        assert await handle(shell, "distributor-actions", *flood) == []
        assert await handle(shell, "partner-actions", *partner_round(n + 100)) == []
        flood = [*distributor_drafts(n + 200, 70), to_trendmicro(n)]
        assert await handle(shell, "distributor-actions", *flood) == []
        back = _act("lmp.trendmicro.report-returned", "trendmicro", f"tr{n}", reason=WIDE * 2)
        assert await handle(shell, "trendmicro-responses", back) == []
        assert await handle(shell, "distributor-actions", to_trendmicro(n + 100)) == []
        again = _act("lmp.trendmicro.report-returned", "trendmicro", f"tr2{n}", reason=WIDE * 2)
        assert await handle(shell, "trendmicro-responses", again) == []
        reject = _act("lmp.distributor.report-rejected", "D1", f"dr2{n}", reasons=[WIDE] * 50)
        assert await handle(shell, "distributor-actions", reject) == []

    largest, own = max(written)
    beyond = max(size - own for size, own in written)
    print(f"{len(written)} writes; largest {largest:,} bytes ({own:,} own); most beyond {beyond:,}")
    assert len(written) > 80
    assert beyond <= INLINE_BOUND + ONE_ACTION_BOUND
    stored = await report(shell)
    assert stored.status is ReportStatus.REJECTED  # every action went through
    assert len(stored.return_reasons) == RETURN_REASONS_KEPT
    whole = await shell.store.read_report(REPORT)
    assert whole is not None
    drafted = [e.message_id for e in whole.history if e.action == "lmp.partner.draft-saved"]
    rounds = [m for n in range(5) for m in (n, n + 100)]
    assert drafted == [f"{LONG_ID}pd{n}-{i}" for n in rounds for i in range(70)]  # in order


def _size(report: Report) -> int:
    return len(bson.encode(report.to_document()))


def test_the_size_estimates_never_undercount_the_stored_bytes() -> None:
    """What the bound rests on: each estimate is at least the entry's BSON in a list."""
    wide = Decision(
        topic=WIDE,
        message_id=WIDE,
        payload_hash="h" * 64,
        action_type=WIDE,
        outcome="refused",
        reason=WIDE,
        decided_at=NOW,
        events=[OutboxEntry(id=WIDE, topic=WIDE, key=WIDE, value=WIDE)],
    )
    bare = Decision(
        topic="",
        message_id="",
        payload_hash="",
        action_type="",
        outcome="applied",
        decided_at=NOW,
    )
    noted = HistoryEntry(
        at=NOW,
        actor_kind="trendmicro",
        account_id=WIDE,
        user_id="",
        action="",
        message_id=WIDE,
        payload_hash="",
        from_status="submitted_to_trendmicro",
        to_status="submitted_to_trendmicro",
        note=WIDE,
    )
    for decision in (wide, bare):
        assert decision_bytes(decision) >= _in_a_list(decision.model_dump())
    for kept in (noted, entry(1)):
        assert entry_bytes(kept) >= _in_a_list(kept.model_dump())
    for event in (OutboxEntry(id="", topic="", key="", value=""), *wide.events):
        assert event_bytes(event) >= _in_a_list(event.model_dump())


def _in_a_list(doc: dict[str, object]) -> int:
    """The bytes ``doc`` adds to a list at position 999,999 (the longest index)."""
    return len(bson.encode({"x": [doc]})) - len(bson.encode({"x": []})) + len("999999") - 1


async def test_the_same_refused_action_twice_in_one_batch_is_answered_the_same() -> None:
    shell = Shell()
    await open_report(shell)
    stranger = action("lmp.partner.draft-saved", "P", "Q", id_="twice", lines=EXPLAINED)
    assert await handle(shell, "partner-actions", stranger, stranger) == []
    sent = raw_values(shell, f"{REPORT}/action-rejected/twice")
    assert len(sent) == 2
    assert len(set(sent)) == 1
    assert set(await shell.store.load_outcomes([f"{PARTNER_ACTIONS}|twice"]))


async def test_a_write_mongodb_would_refuse_sets_the_report_aside_with_the_reason() -> None:
    shell = Shell()
    await open_report(shell)
    doc = shell.store.collection("reports")[REPORT]
    room = 16 * 1024 * 1024 - len(bson.encode(doc)) - 300
    doc["rejection_reasons"] = ["x" * room]  # just under the limit, as stored long ago
    draft = action(
        "lmp.partner.draft-saved",
        "P",
        "P",
        id_="big",
        lines=[{"product_id": "AV", "comment": "y" * 900}],
    )
    [poison] = await handle(shell, "partner-actions", draft)
    assert poison.kind == "processing_error"
    assert "DocumentRefused" in poison.error
    assert "over MongoDB's limit of 16,777,216" in poison.error
    assert (await report(shell)).lines[0].partner_comment is None  # nothing written


async def test_ordinary_floods_of_actions_and_late_usage_stay_under_256_kib() -> None:
    """Drafts with full comments many at a time, then late usage peaks by the hundred:
    every write stops at WRITE_BYTES, so each document is its own fields, INLINE_BOUND
    and one small entry at most, and under 256 KiB."""
    shell = Shell()
    await open_report(shell)
    written: list[tuple[int, int]] = []
    save = shell.store.save_reports

    async def measured(changes: Sequence[tuple[Report, int | None]]) -> set[str]:
        for after, _ in changes:
            own = after.model_copy(update={"decisions": [], "history": [], "outbox": []})
            written.append((_size(after), _size(own)))
        return await save(changes)

    shell.store.save_reports = measured  # type: ignore[method-assign]
    comment = [{"product_id": "AV", "comment": "c" * 2000}]
    drafts = [_act("lmp.partner.draft-saved", "P", f"o{i}", lines=comment) for i in range(200)]
    assert await handle(shell, "partner-actions", *drafts) == []
    drafting = len(written)
    assert drafting > 200 // PER_WRITE + 1  # the bytes, not the count, ended those writes
    submit = _act("lmp.partner.report-submitted", "P", "o-submit", lines=comment)
    assert await handle(shell, "partner-actions", submit) == []
    late = [
        usage_record(
            "P", sub=f"{'S' * 190}{i:010d}", provisioned=5, used=2, id_=f"{LONG_ID}late{i}"
        )
        for i in range(300)
    ]
    assert await handle(shell, "usage", *late) == []
    assert len(written) - drafting - 1 > 3  # late usage in several writes too
    print(f"{len(written)} writes; largest {max(written)[0]:,} bytes")
    for size, own in written:
        assert size - own <= INLINE_BOUND + 8 * 1024
        assert size < 256 * 1024
    whole = await shell.store.read_report(REPORT)
    assert whole is not None
    noted = [e.message_id for e in whole.history if e.action == "late-usage"]
    assert noted == [f"{LONG_ID}late{i}" for i in range(300)]  # every one, in order
