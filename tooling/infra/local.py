"""The embedded servers as one unit: up, down, status; skipped when external ones are set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.settings import Settings
from tooling.infra.kafka_cluster import KafkaCluster
from tooling.infra.kafka_server import KafkaServer
from tooling.infra.mongo_server import MongoServer
from tooling.settings import ToolingSettings, cache_dir


@dataclass
class LocalInfra:
    kafka: KafkaServer | KafkaCluster | None
    mongo: MongoServer | None
    bootstrap_servers: str
    mongodb_uri: str
    topic_replication: int | None = None
    """Set for an embedded cluster (3, unless LMP_TOPIC_REPLICATION says otherwise)."""
    others: tuple[KafkaServer | KafkaCluster, ...] = ()
    """The embedded Kafka of the other layout (one node or a cluster), for ``down``."""

    @classmethod
    def from_settings(
        cls, settings: Settings, home: Path | None = None, tooling: ToolingSettings | None = None
    ) -> LocalInfra:
        """The embedded servers where ``settings`` name none, laid out as ``tooling``
        (default: read from the environment) says."""
        home = home or settings.home
        tooling = tooling or ToolingSettings()
        cache = cache_dir(home)
        kafka: KafkaServer | KafkaCluster | None = None
        mongo = None
        replication = settings.topic_replication
        others: tuple[KafkaServer | KafkaCluster, ...] = ()
        bootstrap, uri = settings.kafka_bootstrap_servers, settings.mongodb_uri
        if not bootstrap:
            single = KafkaServer(
                cache, home / "kafka", tooling.kafka_port, tooling.kafka_controller_port
            )
            if tooling.kafka_brokers == 1:
                kafka, others = single, (_cluster(tooling, home, 3),)
            else:
                kafka, others = _cluster(tooling, home, tooling.kafka_brokers), (single,)
                replication = replication or 3
            bootstrap = kafka.bootstrap_servers
        if not uri:
            mongo = MongoServer(cache, home / "mongo", tooling.mongodb_port, tooling.mongo_server)
            uri = mongo.uri
        return cls(kafka, mongo, bootstrap, uri, replication, others)

    def settings(self, settings: Settings) -> Settings:
        """``settings`` pointed at these servers (the embedded ones where none are set)."""
        return settings.model_copy(
            update={
                "kafka_bootstrap_servers": self.bootstrap_servers,
                "mongodb_uri": self.mongodb_uri,
                "topic_replication": self.topic_replication,
            }
        )

    def kafka_running(self) -> bool:
        """An embedded broker (or cluster) is running."""
        return self.kafka is not None and self.kafka.running()

    def database_running(self) -> bool:
        """The embedded database server is running."""
        return self.mongo is not None and self.mongo.running()

    def install(self) -> None:
        """Fetch or build what the embedded servers need, without starting them."""
        for server in (self.kafka, self.mongo):
            if server is not None:
                server.install()

    def up(self) -> None:
        """Start what is embedded and not yet running; wait until each really answers."""
        for server in (self.kafka, self.mongo):
            if server is not None:
                server.install()
        for server in (self.kafka, self.mongo):
            if server is not None and not server.running():
                server.start()
        for server in (self.kafka, self.mongo):
            if server is not None:
                server.wait_ready()

    def down(self) -> None:
        """Stop the embedded servers, whichever Kafka layout (one node, a cluster) runs."""
        for server in (self.mongo, self.kafka, *self.others):
            if server is not None:
                server.stop()

    def status(self) -> list[tuple[str, str, str]]:
        rows = []
        if self.kafka is None:
            rows.append(("kafka", "external", self.bootstrap_servers))
        else:
            rows.append(
                ("kafka", "running" if self.kafka.running() else "stopped", self.bootstrap_servers)
            )
        if self.mongo is None:
            rows.append(("mongodb", "external", self.mongodb_uri))
        else:
            rows.append(
                ("mongodb", "running" if self.mongo.running() else "stopped", self.mongodb_uri)
            )
        return rows

    def environment(self) -> dict[str, str]:
        """What a processor process needs to reach these servers."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers, "MONGODB_URI": self.mongodb_uri}
        if self.topic_replication is not None:
            env["LMP_TOPIC_REPLICATION"] = str(self.topic_replication)
        return env


def _cluster(tooling: ToolingSettings, home: Path, brokers: int) -> KafkaCluster:
    """Node i on kafka_port + 2i and kafka_controller_port + 2i: the single broker's
    ports first, so the two layouts never run side by side."""
    ports = [
        (tooling.kafka_port + 2 * i, tooling.kafka_controller_port + 2 * i) for i in range(brokers)
    ]
    return KafkaCluster(cache_dir(home), home / "kafka-cluster", ports)
