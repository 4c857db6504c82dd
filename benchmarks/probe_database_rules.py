"""Which of MongoDB's document rules the embedded server enforces by itself.

Writes, straight through the driver (past the store's own check), documents that
MongoDB refuses or stores beyond reach, and prints what the server did with each. The
store refuses all of them before any write (``services/adapters/store/rules.py``); this
says which ones the embedded server would have let through (docs/database.md).

    .venv/bin/python -m benchmarks.probe_database_rules [--server secantusd-rs|secantusd-py]
    .venv/bin/python -m benchmarks.probe_database_rules --uri mongodb://...
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from services.adapters.store.rules import MAX_DOCUMENT_BYTES


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"down": value}
    return value


CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("insert", "a document of 17 MiB", {"x": "y" * (MAX_DOCUMENT_BYTES + 1024 * 1024)}),
    ("insert", "an empty field name (top level)", {"": 1}),
    ("insert", "an empty field name (nested)", {"a": {"": 1}}),
    ("insert", "a '$' field name (top level)", {"$x": 1}),
    ("insert", "a '$' field name (nested)", {"a": {"$x": 1}}),
    ("insert", "a dotted field name (top level)", {"a.b": 1}),
    ("insert", "a dotted field name (nested)", {"a": {"b.c": 1}}),
    ("replace", "a '$' field name (top level)", {"$x": 1}),
    ("replace", "a '$' field name (nested)", {"a": {"$x": 1}}),
    ("replace", "a dotted field name (nested)", {"a": {"b.c": 1}}),
    ("insert", "101 levels of nesting", nested(101)),
    ("insert", "150 levels of nesting", nested(150)),
    ("insert", "201 levels of nesting", nested(201)),
]


async def probe(uri: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        hello = await client.admin.command("hello")
        print(f"maxBsonObjectSize advertised: {hello.get('maxBsonObjectSize'):,}")
        coll = client["lmp_probe_rules"]["docs"]
        await coll.drop()
        for n, (how, what, body) in enumerate(CASES):
            try:
                if how == "insert":
                    await coll.insert_one({"_id": n, **body})
                else:
                    await coll.insert_one({"_id": n})
                    await coll.replace_one({"_id": n}, body)
                stored = await coll.find_one({"_id": n}) is not None
                answer = "ACCEPTED (stored)" if stored else "accepted, not found"
            except Exception as exc:  # each refusal is the finding
                answer = f"refused: {type(exc).__name__}: {str(exc)[:90]}"
            print(f"  {how:8} {what:36} {answer}")
        await client.drop_database("lmp_probe_rules")
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="secantusd-rs")
    parser.add_argument("--uri", default=None)
    args = parser.parse_args()
    if args.uri:
        asyncio.run(probe(args.uri))
        return
    from tooling.infra.mongo_server import MongoServer
    from tooling.infra.process import free_port

    with tempfile.TemporaryDirectory() as data:
        server = MongoServer(Path(".lmp/cache"), Path(data), port=free_port(), flavour=args.server)
        server.start()
        try:
            server.wait_ready()
            print(server.version)
            asyncio.run(probe(server.uri))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
