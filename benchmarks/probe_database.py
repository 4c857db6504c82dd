"""Measure a MongoDB-wire server on the operations lmp-billing performs.

    python -m benchmarks.probe_database                       # embedded secantusd-rs
    python -m benchmarks.probe_database --server secantusd-py # the Python server
    python -m benchmarks.probe_database --uri mongodb://host:27017/

Prints operation rates (insert_many, bulk $max upserts, version-conditional replace,
update_one by _id, find_one_and_update) on a collection of ``--docs`` documents, and
for each query shape the project considers, whether the server answers it from an
index (documents examined versus returned). The correctness side of the same
promises is asserted by tests/integration/test_database_probe.py.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient, ReplaceOne, UpdateOne

NOW = datetime(2026, 11, 10, tzinfo=UTC)
STATUSES = ["msp_preparing", "distributor_reviewing", "completed", "rejected"]


@contextmanager
def server(uri: str | None, flavour: str) -> Iterator[str]:
    if uri:
        yield uri
        return
    from services.settings import Settings
    from tooling.infra.mongo_server import MongoServer
    from tooling.infra.process import free_port
    from tooling.settings import cache_dir

    with tempfile.TemporaryDirectory(prefix="lmp-probe-") as home:
        mongo = MongoServer(cache_dir(Settings().home), Path(home), free_port(), flavour)
        mongo.start()
        try:
            mongo.wait_ready()
            yield mongo.uri
        finally:
            mongo.stop()


def rate(label: str, count: int, action: Callable[[], Any]) -> None:
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    print(f"  {label:44} {count:>7} ops {seconds:8.2f} s {count / seconds:>10.0f} /s")


def document(i: int) -> dict[str, Any]:
    return {
        "_id": f"P{i:06d}:2026-{10 + i % 2:02d}",
        "partner_id": f"P{i:06d}",
        "distributor_id": f"D{i % 50}",
        "cycle": f"2026-{10 + i % 2:02d}",
        "status": STATUSES[i % 4],
        "deadline": NOW + timedelta(minutes=(i % 10_000) - 100),
        "version": 1,
        "lines": [{"product": f"prod-{k}", "units": k} for k in range(5)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", help="an existing server; default: start the embedded one")
    parser.add_argument(
        "--server", default="secantusd-rs", choices=["secantusd-rs", "secantusd-py"]
    )
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--ops", type=int, default=500, help="single-document operations")
    args = parser.parse_args()

    with server(args.uri, args.server) as uri:
        client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
        coll = client["lmp_probe"]["reports"]
        coll.drop()
        coll.create_indexes(
            [
                IndexModel([("status", ASCENDING), ("deadline", ASCENDING)]),
                IndexModel(
                    [("distributor_id", ASCENDING), ("cycle", DESCENDING), ("status", ASCENDING)]
                ),
                IndexModel([("partner_id", ASCENDING), ("cycle", DESCENDING)]),
            ]
        )
        info = client.server_info()
        label = args.uri or args.server
        print(f"{label}: reports version {info.get('version')}, {args.docs} documents")
        docs = [document(i) for i in range(args.docs)]
        rate(
            "insert_many (batches of 1,000)",
            len(docs),
            lambda: [coll.insert_many(docs[s : s + 1000]) for s in range(0, len(docs), 1000)],
        )
        peaks = client["lmp_probe"]["peaks"]
        peaks.drop()
        rate(
            "bulk_write $max upserts (batches of 1,000)",
            len(docs),
            lambda: [
                peaks.bulk_write(
                    [
                        UpdateOne({"_id": i % 5000}, {"$max": {"units": i}}, upsert=True)
                        for i in range(s, s + 1000)
                    ],
                    ordered=False,
                )
                for s in range(0, len(docs), 1000)
            ],
        )
        ids = [docs[(i * 7919) % len(docs)]["_id"] for i in range(args.ops)]
        rate(
            "bulk version-conditional ReplaceOne",
            len(ids),
            lambda: coll.bulk_write(
                [
                    ReplaceOne({"_id": i, "version": 1}, {**document(0), "_id": i, "version": 2})
                    for i in ids
                ],
                ordered=False,
            ),
        )
        rate(
            "update_one by _id ($inc)",
            len(ids),
            lambda: [coll.update_one({"_id": i}, {"$inc": {"version": 1}}) for i in ids],
        )
        few = ids[: max(1, args.ops // 20)]
        rate(
            "find_one_and_update by _id",
            len(few),
            lambda: [coll.find_one_and_update({"_id": i}, {"$inc": {"version": 1}}) for i in few],
        )
        print("query shapes (returned / examined, plan, mean time of the query itself):")
        shapes: list[tuple[str, dict[str, Any]]] = [
            ("status = X and deadline <= now", {"status": "rejected", "deadline": {"$lte": NOW}}),
            (
                "status in [X, Y] and deadline <= now",
                {"status": {"$in": ["rejected", "msp_preparing"]}, "deadline": {"$lte": NOW}},
            ),
            (
                "$or of two status+deadline",
                {
                    "$or": [
                        {"status": "rejected", "deadline": {"$lte": NOW}},
                        {"status": "msp_preparing", "deadline": {"$lte": NOW}},
                    ]
                },
            ),
            ("distributor + cycle", {"distributor_id": "D7", "cycle": "2026-10"}),
            (
                "distributor + cycle range + status in",
                {
                    "distributor_id": "D7",
                    "cycle": {"$gte": "2026-01", "$lte": "2026-12"},
                    "status": {"$in": ["completed", "rejected"]},
                },
            ),
            ("partner_id prefix regex", {"partner_id": {"$regex": "^P00012"}}),
            (
                "distributor + partner regex",
                {"distributor_id": "D7", "partner_id": {"$regex": "0001"}},
            ),
        ]
        for label, query in shapes:
            explained = coll.find(query).explain()
            started = time.perf_counter()
            for _ in range(5):
                list(coll.find(query))
            ms = (time.perf_counter() - started) * 1000 / 5
            stats = explained["executionStats"]
            plan = explained["queryPlanner"]["winningPlan"]
            stages = [plan.get("stage"), plan.get("inputStage", {}).get("stage")]
            used = "IXSCAN" in stages or plan.get("inputStage", {}).get("inputStage")
            print(
                f"  {label:44} {stats['nReturned']:>6} / {stats['totalDocsExamined']:<7}"
                f" {'index' if used else 'SCAN':6} {ms:7.1f} ms"
            )
        client["lmp_probe"].command("dropDatabase")
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
