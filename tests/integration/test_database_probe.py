"""Probe of the MongoDB-wire server: what the project relies on, checked on the real server.

Runs against whatever ``servers`` provides: the embedded SecantusDB by default, a real
MongoDB when ``MONGODB_URI`` is set. If a server cannot keep one of these promises, the
project cannot run on it; docs/servers.md, "Database", lists the measured limits.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from tests.harness import Servers, unique

pytestmark = pytest.mark.integration

WRITERS = 8
INCREMENTS_PER_WRITER = 15


@pytest.fixture
async def database(servers: Servers) -> AsyncIterator[str]:
    name = unique("probe_")
    yield name
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_uri)
    await client.drop_database(name)
    await client.close()


def _client(servers: Servers) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(servers.mongodb_uri, tz_aware=True)


async def test_version_conditional_replace_never_loses_an_update(
    servers: Servers, database: str
) -> None:
    """Optimistic concurrency as the store uses it: read version v, replace where version == v.

    Several writers on separate connections increment one counter; a lost update would
    leave the counter short of the number of successful writes.
    """
    clients = [_client(servers) for _ in range(WRITERS)]
    first = clients[0][database]["reports"]
    await first.insert_one({"_id": "r", "version": 0, "count": 0})
    wins = 0

    async def writer(coll: AsyncCollection[dict[str, Any]]) -> int:
        done = attempts = 0
        while done < INCREMENTS_PER_WRITER:
            attempts += 1
            doc = await coll.find_one({"_id": "r"})
            assert doc is not None
            new = {"_id": "r", "version": doc["version"] + 1, "count": doc["count"] + 1}
            result = await coll.replace_one({"_id": "r", "version": doc["version"]}, new)
            done += result.modified_count
        return attempts

    try:
        attempts = await asyncio.gather(*(writer(c[database]["reports"]) for c in clients))
        wins = WRITERS * INCREMENTS_PER_WRITER
        final = await first.find_one({"_id": "r"})
        assert final == {"_id": "r", "version": wins, "count": wins}
        assert sum(attempts) >= wins
    finally:
        for c in clients:
            await c.close()


async def test_only_one_of_racing_conditional_updates_wins(servers: Servers, database: str) -> None:
    """Two reviewers acting at once on one report: the status guard lets exactly one through."""
    clients = [_client(servers) for _ in range(WRITERS)]
    coll = clients[0][database]["reports"]
    await coll.insert_many([{"_id": f"r{i}", "status": "open"} for i in range(20)])
    try:
        for i in range(20):
            results = await asyncio.gather(
                *(
                    c[database]["reports"].update_one(
                        {"_id": f"r{i}", "status": "open"},
                        {"$set": {"status": "closed", "by": n}},
                    )
                    for n, c in enumerate(clients)
                )
            )
            assert sum(r.modified_count for r in results) == 1
    finally:
        for c in clients:
            await c.close()


async def test_unique_index_reports_exactly_the_duplicates(servers: Servers, database: str) -> None:
    """Receipts rely on an unordered insert_many naming each duplicate by its index."""
    client = _client(servers)
    coll = client[database]["receipts"]
    try:
        await coll.insert_many([{"_id": "a"}, {"_id": "b"}])
        with pytest.raises(DuplicateKeyError):
            await coll.insert_one({"_id": "a"})
        batch = [{"_id": k} for k in ("c", "a", "d", "b", "e")]
        with pytest.raises(BulkWriteError) as caught:
            await coll.insert_many(batch, ordered=False)
        errors = caught.value.details["writeErrors"]
        assert sorted(e["index"] for e in errors) == [1, 3]
        assert {e["code"] for e in errors} == {11000}
        assert caught.value.details["nInserted"] == 3
        assert sorted(await coll.distinct("_id")) == ["a", "b", "c", "d", "e"]
    finally:
        await client.close()


async def test_compound_unique_index_is_enforced(servers: Servers, database: str) -> None:
    client = _client(servers)
    coll = client[database]["keys"]
    try:
        await coll.create_index([("partner", ASCENDING), ("cycle", ASCENDING)], unique=True)
        await coll.insert_one({"partner": "p1", "cycle": "2026-10"})
        await coll.insert_one({"partner": "p1", "cycle": "2026-11"})
        await coll.insert_one({"partner": "p2", "cycle": "2026-10"})
        with pytest.raises(DuplicateKeyError):
            await coll.insert_one({"partner": "p1", "cycle": "2026-10"})
        assert await coll.count_documents({}) == 3
    finally:
        await client.close()


async def test_unordered_bulk_upserts_with_max_are_order_independent(
    servers: Servers, database: str
) -> None:
    """The ingestion baseline's write shape: $max peaks, $setOnInsert, upsert, unordered."""
    client = _client(servers)
    coll = client[database]["peaks"]
    rng = random.Random(7)
    values = [(f"s{i % 50}", rng.randint(0, 10_000)) for i in range(2_000)]
    expected: dict[str, int] = {}
    for key, value in values:
        expected[key] = max(expected.get(key, 0), value)
    try:
        shuffled = values[:]
        rng.shuffle(shuffled)
        for start in range(0, len(shuffled), 400):
            await coll.bulk_write(
                [
                    UpdateOne(
                        {"_id": key},
                        {"$max": {"peak": value}, "$setOnInsert": {"opened": True}},
                        upsert=True,
                    )
                    for key, value in shuffled[start : start + 400]
                ],
                ordered=False,
            )
        stored = {d["_id"]: d["peak"] async for d in coll.find({}, {"peak": 1})}
        assert stored == expected
        assert await coll.count_documents({"opened": True}) == 50
    finally:
        await client.close()


async def _winning_stage(coll: AsyncCollection[dict[str, Any]], filter_: dict[str, Any]) -> Any:
    explained = await coll.find(filter_).explain()
    return explained["executionStats"]


async def test_queries_the_workflow_and_read_side_need_use_indexes(
    servers: Servers, database: str
) -> None:
    """Due reports and list filters: answered from an index, not by examining every report."""
    client = _client(servers)
    coll = client[database]["reports"]
    now = datetime(2026, 11, 10, tzinfo=UTC)
    statuses = ["msp_preparing", "distributor_reviewing", "completed", "rejected"]
    docs: list[dict[str, Any]] = [
        {
            "_id": f"P{i:05d}:2026-{10 + i % 2:02d}",
            "partner_id": f"P{i:05d}",
            "distributor_id": f"D{i % 7}",
            "cycle": f"2026-{10 + i % 2:02d}",
            "status": statuses[i % 4],
            "deadline": now + timedelta(hours=(i % 100) - 10),
            "next_reminder_at": None if i % 10 else now - timedelta(minutes=1),
        }
        for i in range(3_000)
    ]
    try:
        await coll.create_indexes(
            [
                IndexModel([("status", ASCENDING), ("deadline", ASCENDING)]),
                IndexModel([("next_reminder_at", ASCENDING)]),
                IndexModel(
                    [("distributor_id", ASCENDING), ("cycle", DESCENDING), ("status", ASCENDING)]
                ),
            ]
        )
        await coll.insert_many(docs)
        # One equality+range query per status: SecantusDB answers `$in`+range (and `$or`)
        # with a collection scan, so the store never sends that shape.
        for status in ("msp_preparing", "rejected"):
            due = {"status": status, "deadline": {"$lte": now}}
            expected_due = [d for d in docs if d["status"] == status and d["deadline"] <= now]
            stats = await _winning_stage(coll, due)
            assert stats["nReturned"] == len(expected_due) > 0
            assert stats["totalDocsExamined"] == len(expected_due)

        reminders = {"next_reminder_at": {"$lte": now}}
        stats = await _winning_stage(coll, reminders)
        assert stats["nReturned"] == 300
        assert stats["totalDocsExamined"] <= 300

        listing = {"distributor_id": "D3", "cycle": "2026-10", "status": "completed"}
        expected_list = sorted(d["_id"] for d in docs if all(d[k] == v for k, v in listing.items()))
        stats = await _winning_stage(coll, listing)
        assert stats["totalDocsExamined"] <= len(expected_list)
        page = (
            await coll.find(listing, {"_id": 1}).sort("_id", ASCENDING).skip(2).limit(3).to_list()
        )
        assert [d["_id"] for d in page] == expected_list[2:5]
        assert await coll.count_documents(listing) == len(expected_list)

        search = {"partner_id": {"$regex": "^P0001", "$options": "i"}}
        assert await coll.count_documents(search) == 10
    finally:
        await client.close()
