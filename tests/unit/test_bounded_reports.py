"""A report's document stays bounded whatever arrives on it (docs/bounded-reports.md):
refusals are kept outside it, the oldest applied answers and history entries move out,
and every answer is still given again byte for byte, every history entry still read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import bson
import pytest

from schemas.report import Decision, HistoryEntry, Report
from services.adapters.store.bounds import (
    KEEP_DECISIONS,
    KEEP_HISTORY,
    PER_WRITE,
    answer_key,
    history_key,
    settle,
)
from services.processors import actions
from tests.builders import action
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


def test_the_action_processors_split_long_batches_per_report_in_order() -> None:
    # numbers stand for the decoded messages: the split never looks inside them
    batch: dict[str, list[Any]] = {"a": list(range(5)), "b": [9]}
    parts: list[dict[str, list[Any]]] = actions._parts(batch, 2)
    assert parts == [{"a": [0, 1], "b": [9]}, {"a": [2, 3]}, {"a": [4]}]
    assert actions._parts({}, 2) == [{}]


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
