"""Usage ingestion over the real broker and database, with the processor as a process."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.builders import CYCLE, partner_account, usage
from tests.harness import System, cloud_event, eventually
from tests.integration.usage_support import expected_lines, snapshot_record, stored_lines

pytestmark = pytest.mark.integration


async def test_duplicates_reordering_and_a_crash_mid_stream_end_with_exact_totals(
    system: System,
) -> None:
    rng = random.Random(20261)
    partners = [f"{system.namespace}P{i}" for i in range(12)]
    snapshots = []
    for partner in partners:
        for product in ("AV", "EDR", "MAIL"):
            reports_used = product != "MAIL"
            for sub in range(3):
                for _ in range(4):
                    prov = rng.randint(1, 50)
                    used = rng.randint(0, prov) if reports_used else None
                    snapshots.append((partner, product, f"S{sub}", prov, used))
    messages = [snapshot_record(snap, id_=f"u-{i}") for i, snap in enumerate(snapshots)]
    messages += rng.sample(messages, 80)  # redelivered duplicates: same id, same payload
    rng.shuffle(messages)
    half = len(messages) // 2

    known = partners[:8]  # the last four partners' accounts arrive after their usage
    await system.publish("lmp.accounts.v1", [partner_account(p) for p in known])
    system.start_processor("accounts")
    system.start_processor("usage")
    await system.publish("lmp.usage.v1", messages[:half])
    await eventually(lambda: system.store.reports.count_documents({}), timeout=90)
    system.kill_processor("usage")
    await system.publish("lmp.usage.v1", messages[half:])
    system.start_processor("usage")

    expected = expected_lines(snapshots)
    got = await eventually(lambda: _equal_or_none(stored_lines(system), expected), timeout=90)
    assert got == expected

    pending = {f"{p}:{CYCLE}" for p in partners[8:]}
    docs = await system.store.reports.find({"account_pending": True}, {"_id": 1}).to_list(None)
    assert {d["_id"] for d in docs} == pending

    await system.publish("lmp.accounts.v1", [partner_account(p, days=3) for p in partners[8:]])
    await eventually(lambda: _none_pending(system), timeout=60)
    report = await system.store.load_report(f"{partners[9]}:{CYCLE}")
    assert report is not None
    assert report.deadline is not None
    assert report.deadline.isoformat() == "2026-11-04T00:00:00+00:00"

    async def opened() -> dict[str, Any]:
        events = await system.read_all("lmp.report-events.v1")
        by_id = {e["value"]["id"]: e for e in events if e["value"]["type"] == "lmp.report.opened"}
        return by_id if len(by_id) == len(partners) else {}

    by_id = await eventually(opened, timeout=60)
    assert set(by_id) == {f"{p}:{CYCLE}/opened" for p in partners}
    assert all(e["key"] == e["value"]["subject"].encode() for e in by_id.values())
    # Published and marked at once; cleared by the next write, or by the processor that
    # published it once half the grace has passed.
    await eventually(lambda: _no_outbox_left(system), timeout=30)
    assert "Traceback" not in system.logs("usage")


async def _equal_or_none(current: Any, expected: dict[str, Any]) -> dict[str, Any] | None:
    got = await current
    return got if got == expected else None


async def _none_pending(system: System) -> bool:
    pending: int = await system.store.reports.count_documents({"account_pending": True})
    return pending == 0


async def test_poison_messages_are_dead_lettered_with_a_reason_and_processing_goes_on(
    system: System,
) -> None:
    partner = f"{system.namespace}PX"
    good = usage(partner, product="AV", sub="S1", provisioned=10, used=4, id_="good-1")
    conflicting = usage(partner, product="AV", sub="S1", provisioned=99, used=1, id_="good-1")
    wrong_type = (b"k", cloud_event("lmp.partner.draft-saved", {"report_id": "x"}))
    invalid = usage(partner, product="AV", sub="S1", provisioned=-5, used=None, id_="bad-units")
    after = usage(partner, product="AV", sub="S2", provisioned=7, used=7, id_="good-2")
    system.start_processor("usage")
    await system.publish("lmp.usage.v1", [good])
    await eventually(lambda: system.store.reports.count_documents({}), timeout=90)
    await system.publish(
        "lmp.usage.v1",
        [(b"k", b"{not json"), invalid, wrong_type, conflicting, after],
    )

    async def dead_letters() -> list[dict[str, Any]]:
        records = await system.read_all("lmp.dead-letter.v1")
        return records if len(records) >= 4 else []

    records = await eventually(dead_letters, timeout=60)
    kinds = sorted(r["value"]["data"]["error_kind"] for r in records)
    assert kinds == ["conflict", "parse", "schema", "unknown_type"]
    by_kind = {r["value"]["data"]["error_kind"]: r["value"]["data"] for r in records}
    assert by_kind["parse"]["value"] == "{not json"
    assert "provisioned_units" in by_kind["schema"]["error"]
    assert "different payload" in by_kind["conflict"]["error"]
    assert by_kind["conflict"]["topic"] == system.topic("lmp.usage.v1")

    async def line_total() -> Any:
        report = await system.store.load_report(f"{partner}:{CYCLE}")
        return report and report.lines[0].provisioned_units == 17 and report

    report = await eventually(line_total, timeout=60)
    assert report.lines[0].used_units == 11
    assert system.processes["usage"].running()


async def test_a_lone_conflicting_usage_message_is_one_conflict_and_nothing_else(
    system: System,
) -> None:
    """Its report has nothing left to fold: it must not also be set aside as an error."""
    from datetime import UTC, datetime

    from services.adapters.codec import InboundMessage
    from services.processors.usage import UsageIngestion

    runtime = await system.runtime("usage", lambda: datetime(2026, 10, 20, tzinfo=UTC))
    handler = UsageIngestion(runtime)
    topic = system.topic("lmp.usage.v1")
    partner = f"{system.namespace}C1"
    first = usage(partner, product="AV", sub="s1", provisioned=5, used=None, id_="same-id")
    other = usage(partner, product="AV", sub="s1", provisioned=9, used=None, id_="same-id")
    assert await handler.handle([InboundMessage(topic, 0, 1, *first)]) == []
    poisons = await handler.handle([InboundMessage(topic, 0, 2, *other)])
    assert [(p.kind, p.message.offset) for p in poisons] == [("conflict", 2)]
    assert await stored_lines(system) == {f"{partner}:{CYCLE}": {"AV": (5, None)}}


async def _no_outbox_left(system: System) -> bool:
    left: int = await system.store.reports.count_documents({"outbox.0": {"$exists": True}})
    return left == 0
