"""Shared fixtures: one real Kafka broker and one MongoDB-wire server per test session.

They are started by the project's own code unless ``KAFKA_BOOTSTRAP_SERVERS`` /
``MONGODB_URI`` point at external servers (a real cluster, a real MongoDB). The
database server is the embedded SecantusDB, or FerretDB (SQLite backend) with
``LMP_TEST_DATABASE=ferretdb`` (``make test-ferretdb``; docs/ferretdb.md).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from services.settings import PROJECT_ROOT
from tests.harness import Servers, System
from tooling.infra.process import free_port

if TYPE_CHECKING:
    from tooling.infra.ferretdb import FerretDB
    from tooling.infra.mongo_server import MongoServer

CACHE = PROJECT_ROOT / ".lmp" / "cache"
DATABASES = ("embedded", "ferretdb")
TEST_DATABASE = os.environ.get("LMP_TEST_DATABASE") or "embedded"


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    home: Path = tmp_path_factory.mktemp("servers")
    kafka = mongo = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    uri = os.environ.get("MONGODB_URI", "")
    if not uri:
        mongo = _database_server(home / "mongo")
        mongo.install()  # a first build (cargo, go) before any server runs
    if not bootstrap:
        from tooling.infra.kafka_server import KafkaServer

        kafka = KafkaServer(CACHE, home / "kafka", free_port(), free_port())
        kafka.start()
        bootstrap = kafka.bootstrap_servers
    try:
        if mongo is not None:
            mongo.start()
            uri = mongo.uri
        if kafka is not None:
            kafka.wait_ready()
        if mongo is not None:
            mongo.wait_ready()
        yield Servers(bootstrap, uri, TEST_DATABASE if mongo is not None else "external")
    finally:
        for server in (mongo, kafka):
            if server is not None:
                server.stop()


def _database_server(home: Path) -> MongoServer | FerretDB:
    if TEST_DATABASE not in DATABASES:
        raise pytest.UsageError(f"LMP_TEST_DATABASE={TEST_DATABASE!r}: choose one of {DATABASES}")
    if TEST_DATABASE == "ferretdb":
        from tooling.infra.ferretdb import FerretDB

        return FerretDB(CACHE, home, free_port())
    from tooling.infra.mongo_server import MongoServer
    from tooling.settings import ToolingSettings

    return MongoServer(CACHE, home, free_port(), ToolingSettings().mongo_server)


@pytest.fixture
async def system(servers: Servers, tmp_path: Path) -> AsyncIterator[System]:
    sys_ = System(servers, tmp_path)
    await sys_.start()
    try:
        yield sys_
    finally:
        await sys_.close()


LAYERS = frozenset({"unit", "integration", "e2e", "faults"})
"""Every test belongs to one layer; ``make test`` selects by layer, so an unmarked test
would silently never run."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [item.nodeid for item in items if not LAYERS & {m.name for m in item.iter_markers()}]
    if unmarked:
        raise pytest.UsageError(
            f"{len(unmarked)} tests have no layer marker ({', '.join(sorted(LAYERS))}): "
            + ", ".join(unmarked[:5])
        )
