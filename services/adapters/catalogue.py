"""The topic catalogue, read from ``topics.yaml``, and creating topics from it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Literal

import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from pydantic import BaseModel, ConfigDict, Field

from services.adapters.kafka_security import Brokers, client_kwargs

log = logging.getLogger(__name__)

# libyaml's safe loader where PyYAML was built with it: every process reads the file at
# start-up, and the pure-Python one took several times as long.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TopicSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    direction: Literal["in", "out"]
    partitions: int = Field(ge=1)
    replication: int | None = Field(default=None, ge=1)
    min_insync_replicas: int | None = Field(default=None, ge=1)
    cleanup_policy: Literal["delete", "compact"]
    retention_ms: int
    max_message_bytes: int = Field(ge=1024)
    key: str
    types: list[str] = Field(min_length=1)
    producers: list[str]
    consumers: list[str]

    def configs(self) -> dict[str, str]:
        configs = {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            "max.message.bytes": str(self.max_message_bytes),
        }
        if self.min_insync_replicas is not None:
            configs["min.insync.replicas"] = str(self.min_insync_replicas)
        return configs


def default_min_insync(replication: int) -> int:
    """2 once there are 3 replicas: an acks=all write survives losing any one broker
    and is refused (not silently under-replicated) when two are gone; else 1."""
    return 2 if replication >= 3 else 1


class CatalogueError(ValueError):
    """A topic catalogue no broker could honour (said in one line, exit status 2)."""


class Catalogue(BaseModel):
    """Every topic of the contract, and which topic carries each message type.

    Topics are keyed by their physical name: the contract's name behind an optional
    namespace (``LMP_TOPIC_NAMESPACE``), which lets several environments or test runs
    share one cluster without reading each other's messages.
    """

    topics: dict[str, TopicSpec]
    namespace: str = ""

    @classmethod
    def load(
        cls,
        path: Path,
        replication: int | None = None,
        namespace: str = "",
        min_insync_replicas: int | None = None,
    ) -> Catalogue:
        """``replication`` / ``min_insync_replicas`` (LMP_TOPIC_REPLICATION,
        LMP_TOPIC_MIN_INSYNC_REPLICAS) override every topic; unset, a topic's own value
        applies, then ``defaults`` in the file, and min.insync.replicas follows the
        topic's replication (``default_min_insync``)."""
        raw = yaml.load(path.read_text(), Loader=_SafeLoader)  # noqa: S506 (a safe loader)
        defaults = raw.get("defaults", {})
        default_replication = replication or int(defaults.get("replication", 1))
        default_insync = defaults.get("min_insync_replicas")
        topics = {}
        for contract_name, spec in raw["topics"].items():
            name = namespace + contract_name
            topic = TopicSpec.model_validate({**spec, "name": name})
            if replication is not None or topic.replication is None:
                topic.replication = default_replication
            if min_insync_replicas is not None:
                topic.min_insync_replicas = min_insync_replicas
            elif topic.min_insync_replicas is None:
                topic.min_insync_replicas = int(
                    default_insync or default_min_insync(topic.replication)
                )
            if topic.min_insync_replicas > topic.replication:
                raise CatalogueError(
                    f"topic {name}: min.insync.replicas {topic.min_insync_replicas} exceeds "
                    f"its replication {topic.replication}; no acks=all write could succeed"
                )
            topics[name] = topic
        return cls(topics=topics, namespace=namespace)

    def physical(self, contract_name: str) -> str:
        """The name on the broker of a topic named in the contract."""
        return self.namespace + contract_name

    def contract_name(self, physical: str) -> str:
        """The contract's name of a topic on the broker (its namespace taken off)."""
        return physical.removeprefix(self.namespace)

    def topic_for_type(self, message_type: str) -> str:
        for topic in self.topics.values():
            if message_type in topic.types:
                return topic.name
        raise KeyError(f"no topic in the catalogue carries {message_type!r}")

    def all_types(self) -> set[str]:
        return {t for topic in self.topics.values() for t in topic.types}

    def __getitem__(self, name: str) -> TopicSpec:
        return self.topics[name]


async def ensure_topics(catalogue: Catalogue, bootstrap_servers: Brokers) -> list[str]:
    """Create missing topics; verify existing ones have at least the declared partitions.

    Idempotent, so every processor runs it at start-up. Returns the names it created.
    """
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap_servers))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in catalogue.topics.values() if t.name not in existing]
        created: list[str] = []
        for topic in missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            name=topic.name,
                            num_partitions=topic.partitions,
                            replication_factor=topic.replication or 1,
                            topic_configs=topic.configs(),
                        )
                    ]
                )
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        described = await _described(admin, [t.name for t in catalogue.topics.values()])
        for info in described:
            spec = catalogue.topics[info["topic"]]
            if len(info["partitions"]) < spec.partitions:
                raise RuntimeError(
                    f"topic {spec.name} has {len(info['partitions'])} partitions, "
                    f"topics.yaml declares {spec.partitions}"
                )
        if created:
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        await admin.close()


async def _described(admin: AIOKafkaAdminClient, names: list[str]) -> list[dict[str, Any]]:
    """Each topic's metadata once every one is known with its partitions.

    On a cluster a new topic reaches the brokers one after the other and the admin client
    asks any of them, so one may not know yet a topic another has just listed.
    """
    for _ in range(100):
        try:
            described: list[dict[str, Any]] = await admin.describe_topics(names)
            if all(not info["error_code"] and info["partitions"] for info in described):
                return described
        except KafkaError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topics not visible in metadata: {names}")
