"""Actions of every kind while the action processors are killed and stopped.

Forty reports go through their whole review in waves of actions (each wave is answered
before the next is sent, so every answer is known in advance), with exact redeliveries,
conflicting duplicates and actions on reports that do not exist mixed in. Meanwhile each
action processor is killed (SIGKILL) three times and stopped (SIGTERM) once, in the
middle of deliberately slowed batches, and started again. In the end every action must
have exactly one recorded answer — the expected one — the topics must carry exactly that
answer, no event id may have two payloads and no outbox may be left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.faults.ledger import (
    Counts,
    dead_letters,
    ids_with_two_payloads,
    outboxes_left,
    payloads_by_id,
)
from tests.harness import System, eventually, unique
from tests.scenario import PRODUCT_A, Month

pytestmark = pytest.mark.faults

REPORTS = 40
ACTION_PROCESSORS = ("partner-actions", "distributor-actions", "trendmicro-responses")
TOPIC_OF = {
    "partner": "lmp.partner-actions.v1",
    "distributor": "lmp.distributor-actions.v1",
    "trendmicro": "lmp.trendmicro-responses.v1",
}
SLOW_BATCH = {"LMP_FAULT_BATCH_DELAY_SECONDS": "0.15"}
EXPLAINED = {"lines": [{"product_id": PRODUCT_A, "comment": "explained"}]}


def script(month: Month) -> list[tuple[str, str, dict[str, Any], str, str]]:
    """(who, type, data, actor account, expected outcome) of one report's review."""
    partner, distributor, tm = month.partner, month.distributor, "trendmicro"
    return [
        ("partner", "report-submitted", {}, partner, "refused"),
        ("partner", "draft-saved", EXPLAINED, partner, "applied"),
        ("partner", "draft-saved", EXPLAINED, month.distributor, "refused"),
        ("partner", "report-submitted", EXPLAINED, partner, "applied"),
        ("partner", "draft-saved", EXPLAINED, partner, "refused"),
        (
            "distributor",
            "draft-saved",
            {"lines": [{"product_id": PRODUCT_A, "promo_code": f"{month.code}-OLD"}]},
            distributor,
            "refused",
        ),
        (
            "distributor",
            "draft-saved",
            {"po_number": "PO-1", "lines": [{"product_id": PRODUCT_A, "promo_code": month.code}]},
            distributor,
            "applied",
        ),
        ("distributor", "report-rejected", {"reasons": [" "]}, distributor, "refused"),
        ("distributor", "submitted-to-trendmicro", {}, distributor, "applied"),
        ("trendmicro", "report-returned", {"reason": "which PO?"}, tm, "applied"),
        ("distributor", "prices-reset", {}, distributor, "applied"),
        ("distributor", "submitted-to-trendmicro", {"po_number": "PO-2"}, distributor, "applied"),
        ("trendmicro", "report-completed", {"reference": "INV-1"}, tm, "applied"),
        ("trendmicro", "report-completed", {}, tm, "refused"),
    ]


@dataclass
class Sent:
    """Every action sent: its record, where it went and the answer it must get."""

    expected: dict[str, str] = field(default_factory=dict)
    records: dict[str, tuple[str, tuple[bytes | None, bytes]]] = field(default_factory=dict)
    report_of: dict[str, str] = field(default_factory=dict)
    conflicts: set[str] = field(default_factory=set)
    redeliveries: int = 0

    def step(self, month: Month, step: tuple[str, str, dict[str, Any], str, str]) -> str:
        """Record one step of a review as an action to send; its id."""
        who, type_, data, account, expected = step
        action_id, record = month.action(f"lmp.{who}.{type_}", account, data, id_=unique("act-"))
        self.expected[action_id] = expected
        self.records[action_id] = (TOPIC_OF[who], record)
        self.report_of[action_id] = month.report_id
        return action_id


async def answered(system: System, action_ids: list[str], report_of: dict[str, str]) -> bool:
    reports = {report_of[a] for a in action_ids}
    docs = await system.store.reports.find(
        {"_id": {"$in": list(reports)}}, {"decisions.message_id": 1}
    ).to_list(None)
    decided = {d["message_id"] for doc in docs for d in doc.get("decisions", [])}
    missing = [a for a in action_ids if a not in decided]
    if not missing:
        return True
    wanted = {"decision.message_id": {"$in": missing}}
    kept = {
        doc["decision"]["message_id"]
        for collection in (system.store.answers, system.store.outcomes)
        for doc in await collection.find(wanted, {"decision.message_id": 1}).to_list(None)
    }
    return kept >= set(missing)


async def recorded_answers(
    system: System, reports: list[dict[str, Any]], action_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Each action's recorded answers as a redelivery finds them: in its report, then
    among those moved out of it (the same answer once, if it is in both after a crash
    between the two writes), then among refusals (docs/bounded-reports.md)."""
    decisions: dict[str, list[dict[str, Any]]] = {}
    for doc in reports:
        for decision in doc["decisions"]:
            decisions.setdefault(decision["message_id"], []).append(decision)
    wanted = {"decision.message_id": {"$in": action_ids}}
    for kept in (system.store.answers, system.store.outcomes):
        found: dict[str, list[dict[str, Any]]] = {}
        for doc in await kept.find(wanted).to_list(None):
            found.setdefault(doc["decision"]["message_id"], []).append(doc["decision"])
        for action_id, answers in found.items():
            if action_id in decisions:
                assert kept is system.store.outcomes or answers[0] in decisions[action_id]
            else:
                decisions[action_id] = answers
    return decisions


async def chaos(system: System, rounds: list[tuple[str, str]], pause: float) -> list[str]:
    """Kill or stop each processor as listed, starting it again each time."""
    done = []
    for name, how in rounds:
        await asyncio.sleep(pause)
        if how == "kill":
            system.kill_processor(name)
        else:
            code = await asyncio.to_thread(system.terminate_processor, name)
            how = f"term(exit {code})"
        system.start_processor(name, env=SLOW_BATCH)
        done.append(f"{name}:{how}")
    return done


@pytest.mark.parametrize("path", ["bulk", "agent"])
async def test_every_action_is_answered_once_through_kills_and_stops(
    faulty: System, path: str
) -> None:
    """Both consumer paths: aiokafka batches (the default) and faust agents."""
    system = faulty
    system.extra_env["LMP_ACTION_CONSUMER"] = path
    await system.run_processors(("usage", "accounts", "pricing"))
    for name in ACTION_PROCESSORS:
        system.start_processor(name, env=SLOW_BATCH)
    months = [Month(system) for _ in range(REPORTS)]
    now = datetime.now(UTC)
    for topic, records in (
        ("lmp.accounts.v1", [r for m in months for r in m.accounts()]),
        ("lmp.pricing.v1", [r for m in months for r in m.pricing(now)]),
    ):
        await system.publish(topic, records)
    await eventually(lambda: all_known(system, months), timeout=120)
    await system.publish("lmp.usage.v1", [r for m in months for r in m.standard_usage()])
    await eventually(lambda: all_open(system, months), timeout=120)

    rng = random.Random(2026)
    sent = Sent()
    rounds = [(name, how) for how in ("kill", "kill", "term", "kill") for name in ACTION_PROCESSORS]
    rng.shuffle(rounds)
    chaos_task = asyncio.create_task(chaos(system, rounds, pause=1.5))
    scripts = [script(m) for m in months]
    for wave in range(len(scripts[0])):
        wave_ids = []
        for month, steps in zip(months, scripts, strict=True):
            action_id = sent.step(month, steps[wave])
            wave_ids.append(action_id)
            topic, record = sent.records[action_id]
            await system.publish(topic, [record])
        wave_ids += await extras(system, sent, rng)
        await eventually(lambda ids=wave_ids: answered(system, ids, sent.report_of), timeout=120)
    with contextlib.suppress(asyncio.CancelledError):
        chaos_done = await asyncio.wait_for(chaos_task, timeout=120)

    await eventually(lambda: nothing_left(system), timeout=60)
    counts, problems = await account_for(system, sent)
    counts.show(
        f"actions under kill -9 and SIGTERM ({path} path)",
        redeliveries=sent.redeliveries,
        conflicting=len(sent.conflicts),
        chaos=",".join(chaos_done),
    )
    assert not problems, problems[:10]
    counts.assert_sound()
    assert counts.sent == len(sent.expected)
    assert not system.dead_processors(), {n: system.logs(n) for n in system.dead_processors()}


async def extras(system: System, sent: Sent, rng: random.Random) -> list[str]:
    """Exact redeliveries, conflicting duplicates and actions on missing reports."""
    new_ids = []
    earlier = list(sent.records)
    for action_id in rng.sample(earlier, k=min(len(earlier), 6)):
        topic, record = sent.records[action_id]
        await system.publish(topic, [record])
        sent.redeliveries += 1
    for action_id in rng.sample(earlier, k=min(len(earlier), 2)):
        topic, (key, value) = sent.records[action_id]
        if action_id in sent.conflicts:
            continue
        altered = value.replace(b'"user_id": "', b'"user_id": "other-')
        await system.publish(topic, [(key, altered)])
        sent.conflicts.add(action_id)
    ghost = Month(system)
    action_id, record = ghost.action(
        "lmp.partner.draft-saved", ghost.partner, EXPLAINED, id_=unique("act-")
    )
    sent.expected[action_id] = "refused"
    sent.records[action_id] = (TOPIC_OF["partner"], record)
    sent.report_of[action_id] = ghost.report_id
    await system.publish(TOPIC_OF["partner"], [record])
    new_ids.append(action_id)
    return new_ids


async def account_for(system: System, sent: Sent) -> tuple[Counts, list[str]]:
    """Every action's recorded answer against what was expected and what was published."""
    problems: list[str] = []
    reports = await system.store.reports.find(
        {"_id": {"$in": list(set(sent.report_of.values()))}}
    ).to_list(None)
    decisions = await recorded_answers(system, reports, list(sent.expected))
    payloads = await payloads_by_id(system)
    by_action: dict[str, set[str]] = {}
    for event_id in payloads:
        for action_id in sent.expected:
            if event_id.endswith("/" + action_id):
                by_action.setdefault(action_id, set()).add(event_id)
    counts = Counts(sent=len(sent.expected))
    for action_id, expected in sent.expected.items():
        found = decisions.get(action_id, [])
        if not found:
            counts.lost += 1
            problems.append(f"{action_id}: no recorded answer")
            continue
        if len(found) > 1 or found[0]["outcome"] != expected:
            counts.contradictory += 1
            problems.append(f"{action_id}: {[d['outcome'] for d in found]}, expected {expected}")
        decision = found[0]
        counts.applied += decision["outcome"] == "applied"
        counts.refused += decision["outcome"] == "refused"
        recorded = {e["id"]: e["value"].encode() for e in decision["events"]}
        published = by_action.get(action_id, set())
        if published != set(recorded):
            counts.contradictory += 1
            problems.append(
                f"{action_id}: published {sorted(published)} but recorded {sorted(recorded)}"
            )
        for event_id, value in recorded.items():
            if payloads.get(event_id, set()) - {value}:
                problems.append(f"{event_id}: published bytes differ from the recorded answer")
    counts.duplicate_id_different_payload = len(ids_with_two_payloads(payloads))
    conflicts = Counter(
        d["message_id"] for d in await dead_letters(system) if d["error_kind"] == "conflict"
    )
    counts.dead_lettered = len(conflicts)
    missing_conflicts = sent.conflicts - set(conflicts)
    if missing_conflicts:
        counts.lost += len(missing_conflicts)
        problems.append(f"conflicting duplicates not dead-lettered: {sorted(missing_conflicts)}")
    return counts, problems


async def all_known(system: System, months: list[Month]) -> bool:
    partners = await system.store.partners.count_documents(
        {"_id": {"$in": [m.partner for m in months]}}
    )
    promos = await system.store.promotions.count_documents(
        {"_id": {"$in": [f"{m.code}-OLD" for m in months]}}
    )
    return partners == len(months) and promos == len(months)


async def all_open(system: System, months: list[Month]) -> bool:
    ready = await system.store.reports.count_documents(
        {
            "_id": {"$in": [m.report_id for m in months]},
            "account_pending": False,
            "lines.1": {"$exists": True},
        }
    )
    return ready == len(months)


async def nothing_left(system: System) -> bool:
    return await outboxes_left(system) == 0
