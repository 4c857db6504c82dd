"""What the fault scenarios share: the actions scenario (its script of waves, what was
sent, the accounting of every answer) and a steady usage stream with its tally. The test
modules of tests/faults import from here, never from one another."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from services.adapters.kafka_admin import topic_status
from tests.faults.ledger import (
    Counts,
    dead_letters,
    ids_with_two_payloads,
    payloads_by_id,
)
from tests.harness import System, cloud_event, eventually, unique
from tests.scenario import PRODUCT_A, Month

TOPIC_OF = {
    "partner": "lmp.partner-actions.v1",
    "distributor": "lmp.distributor-actions.v1",
    "trendmicro": "lmp.trendmicro-responses.v1",
}


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


async def unanswered(system: System, action_ids: list[str], report_of: dict[str, str]) -> list[str]:
    """The actions with no recorded answer: in their report, moved out of it, or kept
    outside it (docs/bounded-reports.md)."""
    reports = {report_of[a] for a in action_ids}
    docs = await system.store.reports.find(
        {"_id": {"$in": list(reports)}}, {"decisions.message_id": 1}
    ).to_list(None)
    decided = {d["message_id"] for doc in docs for d in doc.get("decisions", [])}
    missing = [a for a in action_ids if a not in decided]
    if not missing:
        return []
    wanted = {"decision.message_id": {"$in": missing}}
    kept = {
        doc["decision"]["message_id"]
        for collection in (system.store.answers, system.store.outcomes)
        for doc in await collection.find(wanted, {"decision.message_id": 1}).to_list(None)
    }
    return [a for a in missing if a not in kept]


async def answered(system: System, action_ids: list[str], report_of: dict[str, str]) -> bool:
    return not await unanswered(system, action_ids, report_of)


async def all_answered(
    system: System, action_ids: list[str], sent: Sent, timeout: float = 120.0
) -> None:
    """Wait until every action is answered (a database away only delays the answer);
    if one never is, fail saying which, where it was published, and how far each
    processor's group has committed there."""
    check = partial(tolerant, partial(answered, system, action_ids, sent.report_of))
    try:
        await eventually(check, timeout=timeout)
    except AssertionError:
        missing = await unanswered(system, action_ids, sent.report_of)
        raise AssertionError(
            f"{len(missing)} of {len(action_ids)} actions not answered within {timeout:.0f}s: "
            + await where_published(system, missing, sent)
        ) from None


async def where_published(system: System, action_ids: list[str], sent: Sent) -> str:
    """Each action's partition and offset, and each group's lag on its topic's partitions."""
    topics = sorted({sent.records[a][0] for a in action_ids})
    placed = []
    for topic in topics:
        records = await system.read_all(topic)
        for record in records:
            value = record["value"]
            if isinstance(value, dict) and value.get("id") in action_ids:
                placed.append(f"{value['id']} at {topic}[{record['partition']}]@{record['offset']}")
    statuses = await topic_status(
        system.servers.bootstrap_servers, system.catalogue, system.namespace.rstrip(".")
    )
    lags = [
        f"{group.group} on {status.contract_name}: lag by partition {group.lag_by_partition}"
        for status in statuses
        if status.contract_name in topics
        for group in status.groups
    ]
    return "; ".join([*placed, *lags]) or "(nothing found)"


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


def published_by_action(payloads: Iterable[str], action_ids: Iterable[str]) -> dict[str, set[str]]:
    """The ids of the events published about each action (an event id ends with it)."""
    by_action: dict[str, set[str]] = {}
    for event_id in payloads:
        for action_id in action_ids:
            if event_id.endswith("/" + action_id):
                by_action.setdefault(action_id, set()).add(event_id)
    return by_action


async def account_for_actions(system: System, sent: Sent) -> tuple[Counts, list[str]]:
    """Every action's recorded answer against what was expected and what was published."""
    problems: list[str] = []
    reports = await system.store.reports.find(
        {"_id": {"$in": list(set(sent.report_of.values()))}}
    ).to_list(None)
    decisions = await recorded_answers(system, reports, list(sent.expected))
    payloads = await payloads_by_id(system)
    by_action = published_by_action(payloads, sent.expected)
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
    partners: int = await system.store.partners.count_documents(
        {"_id": {"$in": [m.partner for m in months]}}
    )
    promos: int = await system.store.promotions.count_documents(
        {"_id": {"$in": [f"{m.code}-OLD" for m in months]}}
    )
    return partners == len(months) and promos == len(months)


async def all_open(system: System, months: list[Month]) -> bool:
    ready: int = await system.store.reports.count_documents(
        {
            "_id": {"$in": [m.report_id for m in months]},
            "account_pending": False,
            "lines.1": {"$exists": True},
        }
    )
    return ready == len(months)


USAGE_PARTNERS = 100


ROUNDS = 60  # of usage, one snapshot per partner each, every ROUND_SECONDS


ROUND_SECONDS = 0.5


WAVE_SECONDS = 3.0  # the least time between two waves of actions


CYCLE = "2026-10"


PRODUCT = "TM-WFBS"


SUBSCRIPTIONS = 3


Record = tuple[bytes, bytes]


async def opened_months(system: System, reports: int) -> tuple[list[Month], UsageStream]:
    """``reports`` months with their accounts, prices and usage, every report open, and
    a usage stream of partners of its own (accounts published, not yet running)."""
    months = [Month(system) for _ in range(reports)]
    stream = UsageStream(system)
    today = datetime.now(UTC)
    await system.publish("lmp.accounts.v1", [r for m in months for r in m.accounts()])
    await system.publish("lmp.accounts.v1", stream.accounts())
    await system.publish("lmp.pricing.v1", [r for m in months for r in m.pricing(today)])
    await eventually(lambda: all_known(system, months), timeout=120)
    await system.publish("lmp.usage.v1", [r for m in months for r in m.standard_usage()])
    await eventually(lambda: all_open(system, months), timeout=120)
    return months, stream


async def patiently(publish: Callable[[], Awaitable[None]]) -> int:
    """Publish as an upstream system does while the broker is away: try again (the same
    bytes, so at worst an exact duplicate) until it is taken. Returns the retries."""
    retries = 0
    while True:
        try:
            await publish()
            return retries
        except Exception:
            retries += 1
            await asyncio.sleep(0.5)


async def tolerant(check: Callable[[], Awaitable[Any]]) -> Any:
    """A condition read from the database, false while the database is away."""
    try:
        return await check()
    except Exception:
        return False


class UsageStream:
    """Snapshots for the usage partners, rising over the rounds: the expected figure of
    each subscription is the highest provisioned and used units sent for it."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.partners = [unique("U-") for _ in range(USAGE_PARTNERS)]
        self.peaks: dict[tuple[str, str], tuple[int, int]] = {}
        self.snapshots: list[tuple[str, str, int, int]] = []
        self.sent = 0
        self.retries = 0

    def accounts(self) -> list[Record]:
        return [
            (
                p.encode(),
                cloud_event(
                    "lmp.account.partner",
                    {
                        "partner_id": p,
                        "name": p,
                        "distributor_id": "D-restarts",
                        "region": "EMEA",
                        "currency": "EUR",
                    },
                ),
            )
            for p in self.partners
        ]

    def round(self, n: int, rng: random.Random) -> list[Record]:
        records = []
        for partner in self.partners:
            sub = f"sub-{n % SUBSCRIPTIONS}"
            prov, used = self.peaks.get((partner, sub), (0, 0))
            prov += rng.randint(0, 3)
            used = min(prov, used + rng.randint(0, 3))
            self.peaks[(partner, sub)] = (prov, used)
            self.snapshots.append((partner, sub, prov, used))
            data = {
                "partner_id": partner,
                "cycle": CYCLE,
                "product_id": PRODUCT,
                "subscription_id": sub,
                "provisioned_units": prov,
                "used_units": used,
                "observed_at": f"2026-10-20T10:{n // 60:02d}:{n % 60:02d}Z",
            }
            records.append((partner.encode(), cloud_event("lmp.usage.reported", data)))
        return records

    async def run(self) -> None:
        rng = random.Random(7)
        for n in range(ROUNDS):
            records = self.round(n, rng)
            self.retries += await patiently(partial(self.system.publish, "lmp.usage.v1", records))
            self.sent += len(records)
            await asyncio.sleep(ROUND_SECONDS)

    def expected(self) -> dict[str, tuple[int, int]]:
        """Report id -> (provisioned, used) of its one line."""
        lines: dict[str, tuple[int, int]] = {}
        for (partner, _), (prov, used) in self.peaks.items():
            before = lines.get(f"{partner}:{CYCLE}", (0, 0))
            lines[f"{partner}:{CYCLE}"] = (before[0] + prov, before[1] + used)
        return lines

    async def account_for(self) -> tuple[int, list[str]]:
        """Messages whose effect is missing, and every report whose figures are not exact."""
        expected = self.expected()
        docs = await self.system.store.reports.find({"_id": {"$in": list(expected)}}).to_list(None)
        found = {
            d["_id"]: (d["lines"][0]["provisioned_units"], d["lines"][0]["used_units"])
            for d in docs
            if d["lines"] and not d["account_pending"]
        }
        problems = [
            f"{rid}: {found.get(rid)} != expected {want}"
            for rid, want in expected.items()
            if found.get(rid) != want
        ]
        subs = {
            (d["partner_id"], sub["subscription_id"]): (sub["provisioned_units"], sub["used_units"])
            for d in docs
            for line in d["lines"]
            for sub in line["subscriptions"]
        }
        lost = 0
        for partner, sub, prov, used in self.snapshots:
            held = subs.get((partner, sub))
            lost += held is None or held[0] < prov or (held[1] or 0) < used
        return lost, problems


async def action_waves(system: System, months: list[Month], sent: Sent) -> int:
    """The partners' part of each review, a wave at a time, each answered before the next."""
    rng = random.Random(11)
    retries = 0
    scripts = [script(m) for m in months]
    partner_steps = [i for i, step in enumerate(scripts[0]) if step[0] == "partner"]
    for step in partner_steps:
        started = time.monotonic()
        wave_ids = []
        for month, steps in zip(months, scripts, strict=True):
            action_id = sent.step(month, steps[step])
            wave_ids.append(action_id)
            topic, record = sent.records[action_id]
            retries += await patiently(partial(system.publish, topic, [record]))
        wave_ids += await extras(system, sent, rng)
        await all_answered(system, wave_ids, sent)
        await asyncio.sleep(max(0.0, WAVE_SECONDS - (time.monotonic() - started)))
    return retries


async def tally(
    system: System, stream: UsageStream, sent: Sent
) -> tuple[Counts, list[str], list[str]]:
    """Usage and actions accounted for together: the counts, the usage figures that are
    not exact, and the actions whose answers are not the expected ones."""
    usage_lost, usage_problems = await stream.account_for()
    counts, problems = await account_for_actions(system, sent)
    counts.sent += stream.sent
    counts.applied += stream.sent - usage_lost
    counts.lost += usage_lost
    return counts, usage_problems, problems
