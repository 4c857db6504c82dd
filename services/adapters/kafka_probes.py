"""What the read API asks Kafka: the consumer lag its metrics show and its readiness probe."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient

from services.adapters.catalogue import Catalogue
from services.adapters.kafka_admin import topic_status
from services.adapters.kafka_security import KafkaConnection

LagRow = tuple[str, str, int]
"""(consumer group, topic, messages not yet consumed)."""


@dataclass(frozen=True)
class KafkaProbes:
    """Lag and readiness against ``connection`` (no brokers configured: no lag, not ready)."""

    connection: KafkaConnection
    catalogue: Catalogue
    group_prefix: str

    async def lag(self) -> list[LagRow]:
        if not self.connection.bootstrap_servers:
            return []
        rows = await topic_status(
            self.connection, self.catalogue, self.group_prefix, discover_groups=False
        )
        return [(g.group, t.name, g.lag) for t in rows for g in t.groups if g.partitions_committed]

    async def kafka_ready(self) -> None:
        if not self.connection.bootstrap_servers:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set")
        admin = AIOKafkaAdminClient(**self.connection.client_kwargs(), request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.describe_cluster()
        finally:
            await admin.close()
