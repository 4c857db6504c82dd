"""The store's optimistic concurrency on the real server: racing writers, one winner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.adapters.store import connect
from tests.builders import stored_report
from tests.harness import System

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 1, tzinfo=UTC)


async def test_two_writers_from_the_same_version_cannot_both_win(system: System) -> None:
    stores = [connect(system.settings) for _ in range(4)]
    try:
        ids = [f"P{i}:2026-10" for i in range(30)]
        seeded = await system.store.save_reports(
            [(stored_report(rid, 1, po_number="seed"), None) for rid in ids]
        )
        assert seeded == set()
        lost = await asyncio.gather(
            *(
                store.save_reports(
                    [(stored_report(rid, 2, po_number=f"writer-{n}"), 1) for rid in ids]
                )
                for n, store in enumerate(stores)
            )
        )
        for rid in ids:
            winners = [n for n, lost_ids in enumerate(lost) if rid not in lost_ids]
            assert len(winners) == 1, (rid, winners)
            stored = await system.store.load_report(rid)
            assert stored is not None
            assert stored.po_number == f"writer-{winners[0]}"
            assert stored.version == 2
    finally:
        for store in stores:
            await store.close()


async def test_creating_a_report_twice_loses_the_second_time(system: System) -> None:
    first = await system.store.save_reports([(stored_report("Q:2026-10", 1, po_number="a"), None)])
    second = await system.store.save_reports([(stored_report("Q:2026-10", 1, po_number="b"), None)])
    assert (first, second) == (set(), {"Q:2026-10"})
    stored = await system.store.load_report("Q:2026-10")
    assert stored is not None
    assert stored.po_number == "a"
