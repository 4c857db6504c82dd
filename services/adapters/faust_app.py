"""A faust app whose producer is idempotent, as every producer of the project is.

faust sets ``acks`` (``producer_acks=-1``) but turns on idempotence only inside
transactions, so a retried send after a broker failure could write a record twice.
With idempotence the broker drops the retry's copy (per producer and partition
sequence numbers), so a leader change costs nothing but a retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faust
from faust.transport.drivers.aiokafka import Producer as AiokafkaFaustProducer
from faust.types import ProducerT

from services.adapters.kafka_security import kafka_security
from services.settings import Settings


class IdempotentProducer(AiokafkaFaustProducer):
    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class IdempotentApp(faust.App):
    def _new_producer(self) -> ProducerT:
        return IdempotentProducer(self.transport, loop=self.loop, beacon=self.beacon)


def faust_app(settings: Settings, group: str, processor: str) -> IdempotentApp:
    """The faust app of ``processor`` in consumer group ``group``: no web server, raw
    bytes, tables in memory, the project's producer and group-membership settings."""
    faust_dirs = settings.home / "faust"
    faust_dirs.mkdir(parents=True, exist_ok=True)
    return IdempotentApp(
        group,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=kafka_security(settings).faust_credentials(),
        autodiscover=False,
        store="memory://",
        # faust makes a data directory per app even for in-memory tables; by default in
        # the working directory, which would litter the checkout with one per test group.
        datadir=str(faust_dirs / "{conf.name}"),
        web_enabled=False,
        producer_acks=-1,
        topic_replication_factor=settings.topic_replication or 1,
        topic_partitions=1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        # take_events can only gather what the stream buffer holds (faust's default, 4096,
        # caps every batch); bulk batches are what make ingestion cheap per message.
        stream_buffer_maxsize=max(4096, settings.batch_size),
        # A crashed member holds its partitions until the first of: its session timeout,
        # or a rebalance timeout after a replacement joins. A graceful stop leaves the
        # group at once; a static member (instance_id) that restarts is handed its
        # partitions back at once. Measured figures: docs/architecture.md, "Take-over".
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_seconds / 3),
        broker_rebalance_timeout=settings.kafka_session_timeout_seconds,
        consumer_group_instance_id=(
            f"{processor}-{settings.instance_id}" if settings.instance_id else None
        ),
        # Room for the largest record a topic accepts (topics.yaml max_message_bytes).
        producer_max_request_size=2 * 1024 * 1024,
    )
