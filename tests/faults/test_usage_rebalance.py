"""A second usage process joins the group mid-stream: a rebalance under load.

The first instance is consuming slowed batches when the second joins, so partitions are
revoked from under a batch in flight; the revoked batch must be finished and committed
before the partitions move, and nothing may be lost or counted twice.
"""

from __future__ import annotations

import random

import pytest

from tests.builders import partner_account
from tests.faults.ledger import Counts, ids_with_two_payloads, payloads_by_id
from tests.harness import System, eventually
from tests.integration.usage_support import (
    Snapshot,
    expected_lines,
    snapshot_record,
    stored_lines,
)

pytestmark = pytest.mark.faults

SLOW = {"LMP_FAULT_BATCH_DELAY_SECONDS": "1.0", "LMP_BATCH_SIZE": "1000"}


async def test_a_second_instance_joining_under_load_loses_and_doubles_nothing(
    faulty: System,
) -> None:
    system = faulty
    rng = random.Random(77)
    partners = [f"{system.namespace}R{i}" for i in range(60)]
    await system.run_processors(("accounts",))
    await system.publish("lmp.accounts.v1", [partner_account(p) for p in partners])
    snapshots: list[Snapshot] = [
        (p, f"PRD-{rng.randrange(4)}", f"S{rng.randrange(5)}", rng.randint(1, 900), None)
        for p in partners
        for _ in range(200)
    ]
    records = [snapshot_record(s, id_=f"rb-{i}") for i, s in enumerate(snapshots)]
    first = system.start_processor("usage", instance="-a", env=SLOW)
    await system.publish("lmp.usage.v1", records[: len(records) // 2])

    async def consuming() -> bool:
        stored: int = await system.store.reports.count_documents({})
        return stored > 0

    await eventually(consuming, timeout=60)
    second = system.start_processor("usage", instance="-b", env=SLOW)

    async def rebalanced() -> bool:
        return "partitions revoked" in system.logs(first.name, 2000)

    await eventually(rebalanced, timeout=60)
    still_going = await stored_lines(system) != expected_lines(snapshots[: len(records) // 2])
    await system.publish("lmp.usage.v1", records[len(records) // 2 :])
    expected = expected_lines(snapshots)

    async def exact() -> bool:
        return await stored_lines(system) == expected

    await eventually(exact, timeout=180)
    assigned = [p for p in (first, second) if "partitions assigned" in system.logs(p.name, 400)]
    payloads = await payloads_by_id(system)
    counts = Counts(
        sent=len(records),
        applied=len(records),
        duplicate_id_different_payload=len(ids_with_two_payloads(payloads)),
    )
    counts.show("usage rebalance under load", instances=len(assigned), mid_stream=still_going)
    counts.assert_sound()
    assert len(assigned) == 2, "both instances must have taken part"
    assert still_going, "the second instance must join while the first is still consuming"
