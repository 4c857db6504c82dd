"""Usage while the usage processor is killed three times and stopped once mid-batch.

Twenty thousand usage messages for two hundred partners (several products and
subscriptions each) arrive shuffled, so lower snapshots often come after higher ones,
and one in ten is an exact copy (same bytes) of another. Half the partner accounts
are published before the usage and half in the middle of it, so reports open both
ways (the account first, or the usage first and the account later).

The usage processor runs with slow batches (``LMP_FAULT_BATCH_DELAY_SECONDS``) of a
thousand messages, and each fault lands just after a batch was committed, inside the
next one's delay. It is killed (SIGKILL) three times and stopped (SIGTERM) once, and
started again each time; the stop counts only if the processor took messages in while
stopping (it had a batch in flight), and every take-over is timed from the restart to
the group's next committed offset. In the end every report must hold exactly the
figures computed here from what was sent: per product, the sum over its subscriptions
of the highest provisioned and used units seen; a message whose effect is missing is
lost.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests import builders
from tests.faults.ledger import (
    Counts,
    GroupProgress,
    dead_letters,
    ids_with_two_payloads,
    outboxes_left,
    payloads_by_id,
)
from tests.harness import System, eventually, message_id, unique

pytestmark = pytest.mark.faults

PARTNERS = 200
UNIQUE_MESSAGES = 18_000
DUPLICATES = 2_000  # 10 % of the 20,000 sent
CYCLE = "2026-10"
USAGE = "lmp.usage.v1"
PRODUCTS = ("TM-WFBS", "TM-EMAIL", "TM-DDI", "TM-CAS")
NO_USED_UNITS = "TM-DDI"  # a product that reports provisioned units only
SLOW = {"LMP_FAULT_BATCH_DELAY_SECONDS": "1.0", "LMP_BATCH_SIZE": "1000"}
FAULTS = ("kill", "kill", "term", "kill")
TAKE_OVER_LIMIT = 10.0

Record = tuple[bytes | None, bytes]
Sub = tuple[str, str, str]  # partner, product, subscription


@dataclass
class Snapshot:
    sub: Sub
    provisioned: int
    used: int | None
    record: Record


@dataclass
class Sent:
    snapshots: list[Snapshot] = field(default_factory=list)
    """Every message sent, duplicates included, in the order sent."""
    reordered: int = 0
    """Messages that arrived after a higher snapshot of their subscription."""

    def expected(self) -> dict[str, dict[str, tuple[int, int | None]]]:
        """Report id -> product -> (provisioned, used): per subscription the highest
        seen, summed over the product's subscriptions; used is None where none was."""
        peaks: dict[Sub, tuple[int, int | None]] = {}
        for s in self.snapshots:
            prov, used = peaks.get(s.sub, (0, None))
            used = used if s.used is None else max(used or 0, s.used)
            peaks[s.sub] = (max(prov, s.provisioned), used)
        lines: dict[str, dict[str, tuple[int, int | None]]] = defaultdict(dict)
        for (partner, product, _), (prov, used) in peaks.items():
            before_prov, before_used = lines[f"{partner}:{CYCLE}"].get(product, (0, None))
            total_used = before_used if used is None else (before_used or 0) + used
            lines[f"{partner}:{CYCLE}"][product] = (before_prov + prov, total_used)
        return dict(lines)


def usage(partner: str, product: str, sub: str, prov: int, used: int | None, day: int) -> Record:
    return builders.usage(
        partner,
        product=product,
        sub=sub,
        provisioned=prov,
        used=used,
        observed_at=f"2026-10-{day:02d}T10:00:00Z",
        id_=message_id("use-"),
    )


def month_of_usage(partners: list[str], rng: random.Random) -> Sent:
    """Peaks-so-far snapshots per subscription, 10 % exact copies, all shuffled."""
    subs: list[Sub] = [
        (partner, product, f"sub-{product}-{n}")
        for partner in partners
        for product in rng.sample(PRODUCTS, k=rng.randint(2, 3))
        for n in range(rng.randint(2, 4))
    ]
    per_sub, extra = divmod(UNIQUE_MESSAGES, len(subs))
    unique_snaps: list[Snapshot] = []
    for i, sub in enumerate(subs):
        prov = rng.randint(1, 40)
        used: int | None = None
        for day in range(1, per_sub + (1 if i < extra else 0) + 1):
            prov += rng.randint(0, 6)
            if sub[1] != NO_USED_UNITS:
                used = min(prov, (used or 0) + rng.randint(0, 6))
            record = usage(*sub, prov, used, day)
            unique_snaps.append(Snapshot(sub, prov, used, record))
    copies = rng.sample(unique_snaps, k=DUPLICATES)
    sent = Sent(snapshots=[*unique_snaps, *copies])
    rng.shuffle(sent.snapshots)
    highest: dict[Sub, int] = {}
    for s in sent.snapshots:
        if s.provisioned < highest.get(s.sub, 0):
            sent.reordered += 1
        highest[s.sub] = max(highest.get(s.sub, 0), s.provisioned)
    return sent


async def take_over(progress: GroupProgress, since: int, started: float) -> float:
    """Seconds from a (re)start until the group commits past ``since``."""

    async def moved() -> bool:
        return await progress.committed(USAGE) > since

    await eventually(moved, timeout=60, interval=0.1)
    return time.monotonic() - started


async def batch_ended(progress: GroupProgress) -> None:
    """Wait until the group's committed offsets move: a batch has just been applied."""
    before = await progress.committed(USAGE)

    async def moved() -> bool:
        return await progress.committed(USAGE) > before

    await eventually(moved, timeout=60, interval=0.05)


async def usage_taken_in(system: System) -> int:
    """Usage messages the processor has taken in so far (their receipts)."""
    topic = system.topic(USAGE)
    return int(
        await system.store.receipts.count_documents(
            {"_id": {"$gt": f"{topic}|", "$lt": f"{topic}}}"}}
        )
    )


async def chaos(system: System, progress: GroupProgress) -> tuple[list[str], list[float]]:
    """Each fault once the processor consumes again, a little into a batch; returns what
    was done and how long each take-over after a kill took.

    A stop proves something only if a batch was in flight: the processor then takes in
    messages after the signal (their receipts appear while it stops). One that finds no
    batch in flight is done again."""
    done: list[str] = []
    after_kills: list[float] = []
    first = await take_over(progress, 0, time.monotonic())
    done.append(f"start:{first:.1f}s")
    faults = list(FAULTS)
    stops_again = 0
    while faults:
        how = faults.pop(0)
        await batch_ended(progress)
        await asyncio.sleep(0.4)  # into the next batch's deliberate delay
        if how == "kill":
            system.kill_processor("usage")
            label = "kill"
        else:
            before = await usage_taken_in(system)
            signalled = time.monotonic()
            code = await asyncio.to_thread(system.terminate_processor, "usage")
            stopping = time.monotonic() - signalled
            finished = await usage_taken_in(system) - before
            label = f"term(exit {code}, {finished} taken in while stopping in {stopping:.1f}s)"
            if not finished:
                assert stops_again < 3, f"no SIGTERM found a batch in flight: {done}"
                stops_again += 1
                faults.insert(0, "term")
        since = await progress.committed(USAGE)
        started = time.monotonic()
        system.start_processor("usage", env=SLOW)
        seconds = await take_over(progress, since, started)
        if how == "kill":
            after_kills.append(seconds)
        done.append(f"{label}:{seconds:.1f}s")
    return done, after_kills


async def test_every_figure_is_exact_through_kills_and_a_stop_mid_batch(faulty: System) -> None:
    system = faulty
    began = time.monotonic()
    rng = random.Random(20_000)
    partners = [unique("P-") for _ in range(PARTNERS)]
    sent = month_of_usage(partners, rng)
    records = [s.record for s in sent.snapshots]
    early, late = partners[: PARTNERS // 2], partners[PARTNERS // 2 :]

    await system.run_processors(("accounts",))
    await system.publish(
        "lmp.accounts.v1", [builders.partner_account(p, distributor="D-crash") for p in early]
    )
    await eventually(lambda: known(system, early), timeout=60)
    progress = GroupProgress(system, "usage")
    try:
        system.start_processor("usage", env=SLOW)
        half = len(records) // 2
        await system.publish(USAGE, records[:half])
        await system.publish(
            "lmp.accounts.v1", [builders.partner_account(p, distributor="D-crash") for p in late]
        )
        await system.publish(USAGE, records[half:])
        faults, after_kills = await asyncio.wait_for(chaos(system, progress), timeout=240)

        async def consumed() -> bool:
            return await progress.lag(USAGE) == 0

        await eventually(consumed, timeout=120, interval=0.5)
        await eventually(lambda: outboxes_left_is(system, 0), timeout=30)
    finally:
        await progress.close()

    counts, problems = await account_for(system, sent)
    counts.show(
        "usage under kill -9 x3 and SIGTERM mid-batch",
        reports=PARTNERS,
        duplicates=DUPLICATES,
        reordered=sent.reordered,
        faults=",".join(faults),
        seconds=f"{time.monotonic() - began:.0f}",
    )
    assert not problems, problems[:10]
    counts.assert_sound()
    assert counts.sent == UNIQUE_MESSAGES + DUPLICATES >= 20_000
    assert counts.applied == counts.sent
    assert counts.dead_lettered == 0
    assert len(after_kills) == 3
    assert all(t < TAKE_OVER_LIMIT for t in after_kills), faults
    assert not system.dead_processors(), {n: system.logs(n) for n in system.dead_processors()}


async def account_for(system: System, sent: Sent) -> tuple[Counts, list[str]]:
    """Each report against the expected figures; each message's effect looked for."""
    problems: list[str] = []
    expected = sent.expected()
    docs = {
        d["_id"]: d
        for d in await system.store.reports.find({"_id": {"$in": list(expected)}}).to_list(None)
    }
    stored_subs: dict[Sub, dict[str, Any]] = {}
    counts = Counts(sent=len(sent.snapshots))
    for rid, lines in expected.items():
        doc = docs.get(rid)
        if doc is None:
            problems.append(f"{rid}: no report")
            continue
        if doc["account_pending"] or doc["deadline"] is None:
            problems.append(f"{rid}: never opened (account_pending={doc['account_pending']})")
        figures = {
            line["product_id"]: (line["provisioned_units"], line["used_units"])
            for line in doc["lines"]
        }
        if figures != lines:
            problems.append(f"{rid}: lines {figures} != expected {lines}")
            counts.contradictory += sum(
                1
                for product, (prov, used) in figures.items()
                if product not in lines
                or prov > lines[product][0]
                or (used or 0) > (lines[product][1] or 0)
            )
        for line in doc["lines"]:
            for sub in line["subscriptions"]:
                key = (doc["partner_id"], line["product_id"], sub["subscription_id"])
                stored_subs[key] = sub
    for s in sent.snapshots:
        sub = stored_subs.get(s.sub)
        effect = (
            sub is not None
            and sub["provisioned_units"] >= s.provisioned
            and (s.used is None or (sub["used_units"] is not None and sub["used_units"] >= s.used))
        )
        counts.lost += not effect
    counts.applied = counts.sent - counts.lost
    counts.dead_lettered = len(await dead_letters(system))
    payloads = await payloads_by_id(system)
    counts.duplicate_id_different_payload = len(ids_with_two_payloads(payloads))
    opened = [e for e in payloads if e.endswith("/opened")]
    if len(opened) != len(expected):
        problems.append(f"{len(opened)} reports announced as opened, expected {len(expected)}")
    return counts, problems


async def known(system: System, partners: list[str]) -> bool:
    found: int = await system.store.partners.count_documents({"_id": {"$in": partners}})
    return found == len(partners)


async def outboxes_left_is(system: System, n: int) -> bool:
    return await outboxes_left(system) == n
