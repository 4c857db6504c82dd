"""The fault suite's own servers: a broker and a database server it may stop and restart.

Each module gets its own pair (ports, data directories), so stopping them never touches
the servers the rest of the suite shares. ``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI``
are ignored here: restarting servers is the point.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CACHE
from tests.faults.ledger import LINES
from tests.harness import Servers, System
from tooling.infra.kafka_cluster import KafkaCluster
from tooling.infra.kafka_server import KafkaServer
from tooling.infra.mongo_server import MongoServer
from tooling.infra.process import free_port
from tooling.settings import ToolingSettings


@dataclass
class RestartableServers:
    kafka: KafkaServer
    mongo: MongoServer

    @property
    def servers(self) -> Servers:
        return Servers(self.kafka.bootstrap_servers, self.mongo.uri)

    def restart_kafka(self) -> None:
        self.kafka.stop()
        self.kafka.start()
        self.kafka.wait_ready()

    def stop_kafka(self) -> None:
        self.kafka.stop()

    def start_kafka(self) -> None:
        self.kafka.start()
        self.kafka.wait_ready()

    def stop_mongo(self) -> None:
        self.mongo.stop()

    def start_mongo(self) -> None:
        self.mongo.start()
        self.mongo.wait_ready()


@pytest.fixture(scope="module")
def fault_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableServers]:
    home: Path = tmp_path_factory.mktemp("fault-servers")
    kafka = KafkaServer(CACHE, home / "kafka", free_port(), free_port())
    mongo = MongoServer(CACHE, home / "mongo", free_port(), ToolingSettings().mongo_server)
    kafka.start()
    mongo.start()
    try:
        kafka.wait_ready()
        mongo.wait_ready()
        yield RestartableServers(kafka, mongo)
    finally:
        mongo.stop()
        kafka.stop()


@pytest.fixture
async def faulty(fault_servers: RestartableServers, tmp_path: Path) -> AsyncIterator[System]:
    """A test's system on the fault suite's servers."""
    system = System(fault_servers.servers, tmp_path)
    await system.start()
    try:
        yield system
    finally:
        await system.close()


@dataclass
class ClusterServers:
    """Three brokers, one of which a test may kill, and a database server."""

    kafka: KafkaCluster
    mongo: MongoServer

    @property
    def servers(self) -> Servers:
        return Servers(self.kafka.bootstrap_servers, self.mongo.uri)


@pytest.fixture(scope="module")
def cluster_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterServers]:
    home: Path = tmp_path_factory.mktemp("cluster-servers")
    kafka = KafkaCluster(CACHE, home / "kafka", [(free_port(), free_port()) for _ in range(3)])
    mongo = MongoServer(CACHE, home / "mongo", free_port(), ToolingSettings().mongo_server)
    try:
        kafka.start()
        mongo.start()
        kafka.wait_ready()
        mongo.wait_ready()
        yield ClusterServers(kafka, mongo)
    finally:
        mongo.stop()
        # Killed, not stopped: the data is thrown away, and three nodes stopping together
        # wait out their controlled shutdown (~30 s) for a quorum that is leaving too.
        for node in kafka.nodes:
            node.kill()


@pytest.fixture
async def replicated(
    cluster_servers: ClusterServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[System]:
    """A test's system on the cluster, its topics replicated three times (min.insync.replicas
    2, the catalogue's default for three); the processors inherit the setting."""
    monkeypatch.setenv("LMP_TOPIC_REPLICATION", "3")
    system = System(cluster_servers.servers, tmp_path)
    await system.start()
    try:
        yield system
    finally:
        await system.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault scenarios' counts at the end of every run, passed or failed."""
    if LINES:
        terminalreporter.section("fault suite counts")
        for line in LINES:
            terminalreporter.write_line(line)
