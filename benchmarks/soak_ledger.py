"""What the soak sent and what it must find at the end, in the fault suite's terms
(``tests/faults/ledger.py``): every usage snapshot's effect in its report, every action
answered once — the expected answer, recorded and published as recorded — and no event
id published with two payloads. Linear in what was sent: an hour sends about two
million messages, so nothing here compares every action with every event."""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Iterable
from typing import Any

from aiohttp import ClientSession
from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks.bench_actions import event, partner
from schemas.api import Role
from tests.faults.ledger import Counts, ids_with_two_payloads

PRODUCTS = ("PRD-A", "PRD-B")
SUBSCRIPTIONS = ("S1", "S2")
DISTRIBUTORS = 20
COPIES = 0.02
"""Share of usage messages that are exact copies (same id, same bytes) of an earlier one."""
REFUSE_EVERY = 20
"""One action in this many is a partner's edit of a report already submitted: refused."""

USAGE = "lmp.usage.reported"

Sub = tuple[str, str, str]
"""Partner, product, subscription."""
Record = tuple[str, bytes, bytes]
"""Contract topic, key, value."""


def usage_partner(i: int) -> str:
    return f"SU{i:05d}"


def distributor(i: int) -> str:
    return f"LD{i % DISTRIBUTORS}"


def account(partner_id: str, i: int) -> bytes:
    data = {
        "partner_id": partner_id,
        "name": partner_id,
        "distributor_id": distributor(i),
        "region": "EMEA",
        "currency": "EUR",
        "auto_submit_days": 5,
    }
    return event("lmp.account.partner", data)


class UsageSent:
    """Rising peaks per subscription, round robin, a few exact copies; every message's
    figures kept (two int arrays per subscription) to count the ones whose effect is missing."""

    def __init__(self, partners: int, cycle: str, seed: int = 18) -> None:
        self.rng = random.Random(seed)
        self.cycle = cycle
        self.run = uuid.uuid4().hex[:6]
        self.subs: list[Sub] = [
            (usage_partner(i), product, sub)
            for i in range(partners)
            for product in PRODUCTS
            for sub in SUBSCRIPTIONS
        ]
        self.rng.shuffle(self.subs)
        self.peaks: dict[Sub, tuple[int, int]] = {}
        self.sent: dict[Sub, tuple[array[int], array[int]]] = {}
        self.last: dict[Sub, bytes] = {}
        self.count = 0
        self.copies = 0

    def next(self) -> Record:
        originals = self.count - self.copies
        if originals and self.rng.random() < COPIES:
            sub = self.subs[self.rng.randrange(min(originals, len(self.subs)))]
            self.copies += 1
        else:
            sub = self.subs[originals % len(self.subs)]
            prov, used = self.peaks.get(sub, (self.rng.randint(1, 50), 0))
            prov += self.rng.randint(0, 2)
            used = min(prov, used + self.rng.randint(0, 2))
            self.peaks[sub] = (prov, used)
            data = {
                "partner_id": sub[0],
                "cycle": self.cycle,
                "product_id": sub[1],
                "subscription_id": sub[2],
                "provisioned_units": prov,
                "used_units": used,
                "observed_at": "2026-12-01T00:00:00Z",
            }
            id_ = f"use-{self.run}-{self.count}"
            self.last[sub] = event(USAGE, data, id_)
        prov, used = self.peaks[sub]
        provs, useds = self.sent.setdefault(sub, (array("i"), array("i")))
        provs.append(prov)
        useds.append(used)
        self.count += 1
        return "lmp.usage.v1", sub[0].encode(), self.last[sub]

    def report_ids(self) -> list[str]:
        return sorted({f"{p}:{self.cycle}" for p, _, _ in self.subs})

    def account_for(self, docs: Iterable[dict[str, Any]]) -> tuple[int, int, list[str]]:
        """(lost messages, contradicted subscriptions, what differs) against the reports."""
        held: dict[Sub, tuple[int, int]] = {}
        lines: dict[tuple[str, str], tuple[int, int]] = {}
        for doc in docs:
            for line in doc.get("lines", []):
                key = (doc["partner_id"], line["product_id"])
                lines[key] = (line["provisioned_units"], line.get("used_units") or 0)
                for s in line["subscriptions"]:
                    sub = (doc["partner_id"], line["product_id"], s["subscription_id"])
                    held[sub] = (s["provisioned_units"], s.get("used_units") or 0)
        lost = contradicted = 0
        problems: list[str] = []
        for sub, (provs, useds) in self.sent.items():
            have_prov, have_used = held.get(sub, (-1, -1))
            missing = sum(p > have_prov or u > have_used for p, u in zip(provs, useds, strict=True))
            lost += missing
            if have_prov > self.peaks[sub][0] or have_used > self.peaks[sub][1]:
                contradicted += 1
            if held.get(sub) != self.peaks[sub]:
                problems.append(f"{sub}: holds {held.get(sub)}, sent peaks {self.peaks[sub]}")
        expected: dict[tuple[str, str], tuple[int, int]] = {}
        for (partner_id, product, _), (prov, used) in self.peaks.items():
            before = expected.get((partner_id, product), (0, 0))
            expected[(partner_id, product)] = (before[0] + prov, before[1] + used)
        problems += [
            f"{key}: line {lines.get(key)} != {want}"
            for key, want in expected.items()
            if lines.get(key) != want
        ]
        return lost, contradicted, problems


def report_id(i: int, cycle: str) -> str:
    return f"{partner(i)}:{cycle}"


class ActionsSent:
    """Draft-saved actions by turns of partners (reports with them) and distributors
    (reports submitted), one in ``REFUSE_EVERY`` refused; the answer each must get."""

    def __init__(self, reports: int, cycle: str) -> None:
        self.reports = reports
        self.cycle = cycle
        self.run = uuid.uuid4().hex[:6]
        self.expected: dict[str, str] = {}

    def opening(self) -> list[Record]:
        """The reports' accounts and first usage (two products): every report opens."""
        found = []
        for i in range(self.reports):
            found.append(("lmp.accounts.v1", partner(i).encode(), account(partner(i), i)))
            for product in PRODUCTS:
                data = {
                    "partner_id": partner(i),
                    "cycle": self.cycle,
                    "product_id": product,
                    "subscription_id": "S1",
                    "provisioned_units": 10,
                    "used_units": 10,
                    "observed_at": "2026-12-01T00:00:00Z",
                }
                found.append(("lmp.usage.v1", partner(i).encode(), event(USAGE, data)))
        return found

    def submissions(self) -> list[Record]:
        """The second half of the reports submitted by their partners: the distributors'."""
        return [
            (
                "lmp.partner-actions.v1",
                report_id(i, self.cycle).encode(),
                event("lmp.partner.report-submitted", self.body(i, partner(i))),
            )
            for i in range(self.reports // 2, self.reports)
        ]

    def next(self) -> Record:
        n = len(self.expected)
        half = self.reports // 2
        action_id = f"act-{self.run}-{n}"
        turn = n // 2
        if n % REFUSE_EVERY == REFUSE_EVERY - 1:
            i = half + turn % (self.reports - half)
            who, body, outcome = "partner", self.body(i, partner(i)), "refused"
        elif n % 2 == 0:
            i = turn % half
            who, body, outcome = "partner", self.body(i, partner(i)), "applied"
        else:
            i = half + turn % (self.reports - half)
            who, body, outcome = "distributor", self.body(i, distributor(i)), "applied"
        self.expected[action_id] = outcome
        if who == "partner":
            body["lines"] = [{"product_id": "PRD-A", "comment": f"soak {n}"}]
        else:
            body["po_number"] = f"PO-{n}"
        value = event(f"lmp.{who}.draft-saved", body, action_id)
        return f"lmp.{who}-actions.v1", report_id(i, self.cycle).encode(), value

    def body(self, i: int, account_id: str) -> dict[str, Any]:
        return {
            "report_id": report_id(i, self.cycle),
            "actor": {"account_id": account_id, "user_id": "soak"},
        }


class AccountsSent:
    """The usage partners' accounts again, unchanged, by turns: a directory republishing."""

    def __init__(self, partners: int) -> None:
        self.partners = partners
        self.count = 0

    def every_one(self) -> list[Record]:
        return [
            ("lmp.accounts.v1", usage_partner(i).encode(), account(usage_partner(i), i))
            for i in range(self.partners)
        ]

    def next(self) -> Record:
        i = self.count % self.partners
        self.count += 1
        return "lmp.accounts.v1", usage_partner(i).encode(), account(usage_partner(i), i)


API_MIX = {"one billing report": 35, "billing list": 35, "one usage report": 15, "usage list": 15}
READING_PARTNERS = 20


class ApiReads:
    """Reads of the API by distributors (one report, their cycle's list) and partners
    (their usage report, their list); each read's kind, status (0: no answer) and time."""

    def __init__(self, reports: int, cycle: str, seed: int = 18) -> None:
        self.reports = reports
        self.cycle = cycle
        self.rng = random.Random(seed)
        self.keys: dict[str, str] = {}
        self.results: list[tuple[str, int, float]] = []

    def readers(self) -> list[tuple[Role, str]]:
        """Who gets an API key: every distributor, and a few partners with their reports."""
        found = [(Role.DISTRIBUTOR, f"LD{i}") for i in range(DISTRIBUTORS)]
        return found + [(Role.PARTNER, partner(i)) for i in range(READING_PARTNERS)]

    def next(self) -> tuple[str, str, str, dict[str, str]]:
        """A kind of read, its path, the reader's key and the query."""
        kind = self.rng.choices(list(API_MIX), list(API_MIX.values()))[0]
        half = self.reports // 2
        submitted = self.rng.randrange(half, self.reports)
        mine = self.rng.randrange(min(READING_PARTNERS, half))
        by_distributor = self.keys[distributor(submitted)]
        by_partner = self.keys[partner(mine)]
        if kind == "one billing report":
            path = f"/v1/billing-reports/{report_id(submitted, self.cycle)}"
            return kind, path, by_distributor, {}
        if kind == "billing list":
            return kind, "/v1/billing-reports", by_distributor, {"cycle": self.cycle}
        if kind == "one usage report":
            return kind, f"/v1/usage-reports/{report_id(mine, self.cycle)}", by_partner, {}
        return kind, "/v1/usage-reports", by_partner, {}

    async def read(self, client: ClientSession, base: str) -> None:
        kind, path, key, params = self.next()
        started = time.perf_counter()
        status = 0
        try:
            headers = {"Authorization": f"Bearer {key}"}
            async with client.get(base + path, params=params, headers=headers) as resp:
                await resp.read()
                status = resp.status
        except Exception:  # noqa: S110 - no answer (a timeout, a reset): status 0
            pass
        self.results.append((kind, status, time.perf_counter() - started))

    def summary(self, seconds: float) -> str:
        times = sorted(t for _, status, t in self.results if status == 200)
        errors = Counter(f"{kind}: {status}" for kind, status, _ in self.results if status != 200)

        def ms(q: float) -> float:
            return times[min(len(times) - 1, int(q * len(times)))] * 1000 if times else 0.0

        return (
            f"read API: {len(self.results) / seconds:.1f} req/s, {len(self.results)} reads, "
            f"{sum(errors.values())} not 200 {dict(errors.most_common(5))}, "
            f"p50 {ms(0.5):.1f} ms, p99 {ms(0.99):.1f} ms"
        )


def digest(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


async def published(
    bootstrap: str, topics: list[tuple[str, int]]
) -> tuple[dict[str, set[bytes]], list[dict[str, Any]]]:
    """Every event id on the outbound topics with the digests of its distinct payloads,
    and the data of every dead letter (``topics``: physical name and partitions, the
    dead-letter topic's name ending with ``dead-letter.v1``)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    payloads: dict[str, set[bytes]] = {}
    dead: list[dict[str, Any]] = []
    try:
        tps = [TopicPartition(name, p) for name, count in topics for p in range(count)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            for tp, records in (await consumer.getmany(timeout_ms=500, max_records=5000)).items():
                for record in records:
                    if record.value is None:
                        continue
                    value = json.loads(record.value)
                    payloads.setdefault(value["id"], set()).add(digest(record.value))
                    if tp.topic.endswith("dead-letter.v1"):
                        dead.append(value["data"])
    finally:
        await consumer.stop()
    return payloads, dead


async def recorded_answers(store: Any, report_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each action's recorded answers as a redelivery finds them (``tests/faults/support.py``'s
    ``recorded_answers``): in its report; then moved out of it (the same answer, if in
    both after a crash between the two writes); then among refusals. Each answer is
    kept as its outcome and its events' ids with the digests of their bytes."""

    def kept(decision: dict[str, Any]) -> dict[str, Any]:
        events = {e["id"]: digest(e["value"].encode()) for e in decision["events"]}
        return {"outcome": decision["outcome"], "events": events}

    answers: dict[str, list[dict[str, Any]]] = {}
    reports = store.reports.find({"_id": {"$in": report_ids}}, {"decisions": 1})
    async for doc in reports:
        for decision in doc.get("decisions", []):
            answers.setdefault(decision["message_id"], []).append(kept(decision))
    inline = set(answers)
    moved: dict[str, list[dict[str, Any]]] = {}
    async for doc in store.answers.find({}, {"decision": 1}):
        moved.setdefault(doc["decision"]["message_id"], []).append(kept(doc["decision"]))
    for action_id, found in moved.items():
        if action_id in inline:
            answers[action_id] += [a for a in found if a not in answers[action_id]]
        else:
            answers[action_id] = found
    async for doc in store.outcomes.find({}, {"decision": 1}):
        action_id = doc["decision"]["message_id"]
        if action_id not in answers:
            answers[action_id] = [kept(doc["decision"])]
    return answers


def account_for_actions(
    expected: dict[str, str],
    answers: dict[str, list[dict[str, Any]]],
    payloads: dict[str, set[bytes]],
) -> tuple[Counts, list[str]]:
    """Each action against its one expected answer and what the topics carry about it
    (an event's id ends with its cause's: ``<report>/<kind>/<action id>``)."""
    by_action: dict[str, set[str]] = {}
    for event_id in payloads:
        cause = event_id.rsplit("/", 1)[-1]
        if cause in expected:
            by_action.setdefault(cause, set()).add(event_id)
    counts = Counts(sent=len(expected))
    problems: list[str] = []
    for action_id, outcome in expected.items():
        found = answers.get(action_id, [])
        if not found:
            counts.lost += 1
            problems.append(f"{action_id}: no recorded answer")
            continue
        if len(found) > 1 or found[0]["outcome"] != outcome:
            counts.contradictory += 1
            problems.append(f"{action_id}: {[a['outcome'] for a in found]}, expected {outcome}")
        answer = found[0]
        counts.applied += answer["outcome"] == "applied"
        counts.refused += answer["outcome"] == "refused"
        if by_action.get(action_id, set()) != set(answer["events"]):
            counts.contradictory += 1
            problems.append(
                f"{action_id}: published {sorted(by_action.get(action_id, ()))}"
                f" but recorded {sorted(answer['events'])}"
            )
        for event_id, value in answer["events"].items():
            if payloads.get(event_id, set()) - {value}:
                problems.append(f"{event_id}: published bytes differ from the recorded answer")
    counts.duplicate_id_different_payload = len(ids_with_two_payloads(payloads))
    return counts, problems
