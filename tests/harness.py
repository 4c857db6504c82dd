"""Test harness: real servers, per-test namespaces, processors as real processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.adapters.catalogue import Catalogue, ensure_topics
from services.adapters.publisher import AiokafkaProducer, Publisher
from services.adapters.store import Store, connect
from services.runtime.context import Runtime, build_runtime
from services.settings import PROJECT_ROOT, Settings
from tooling.infra.process import ManagedProcess, stop_all, tail

T = TypeVar("T")

SLOW_BATCHES = "LMP_FAULT_BATCH_DELAY_SECONDS"
"""Seconds every batch of a processor waits before it is applied (``tests.faults.slow_batches``)."""


@dataclass(frozen=True)
class Servers:
    bootstrap_servers: str
    mongodb_uri: str
    database: str = "embedded"
    """Which database server runs: "embedded" (SecantusDB), "ferretdb"
    (LMP_TEST_DATABASE=ferretdb), or "external" (MONGODB_URI named one)."""


async def whole_history(store: Store, report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A stored report's whole history, oldest first: the entries moved out of it before
    this version of the document (the store's ``moved_history``), then its inline ones."""
    moved = await store.moved_history(report["_id"], report.get("history_archived", 0))
    return [entry.model_dump() for entry in moved] + list(report["history"])


def unique(prefix: str) -> str:
    """A short name for a test's own things (partners, topics, databases)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def message_id(prefix: str = "evt-") -> str:
    """A message id no other message of a run shares: eight hex digits collide about
    once in 25 runs among the 18,000 messages of the usage fault scenario (a birthday
    collision), and two messages under one id are rightly a conflict."""
    return f"{prefix}{uuid.uuid4().hex}"


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout: float = 60.0, interval: float = 0.2
) -> T:
    """Wait on a condition, not a sleep: return the first truthy result of ``check``."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: T | None = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout:.0f}s; last value: {last!r}")


def cloud_event(
    type_: str, data: dict[str, Any], *, id_: str | None = None, subject: str | None = None
) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": id_ or message_id(),
            "source": "tests",
            "type": type_,
            "time": datetime.now(UTC).isoformat(),
            "subject": subject,
            "data": data,
        }
    ).encode()


@dataclass
class System:
    """One test's slice of the shared servers: own topics, database and consumer groups."""

    servers: Servers
    workdir: Path
    namespace: str = field(default_factory=lambda: unique("t") + ".")
    database: str = field(default_factory=lambda: unique("lmp_test_"))
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.settings = Settings(
            KAFKA_BOOTSTRAP_SERVERS=self.servers.bootstrap_servers,
            MONGODB_URI=self.servers.mongodb_uri,
            MONGODB_DATABASE=self.database,
            topic_namespace=self.namespace,
        )
        self.catalogue = Catalogue.load(*self.settings.catalogue_args())
        self.store: Store = connect(self.settings)
        self._producer: AIOKafkaProducer | None = None
        self._readers: dict[str, tuple[AIOKafkaConsumer, list[TopicPartition], list[Any]]] = {}

    def topic(self, contract_name: str) -> str:
        return self.catalogue.physical(contract_name)

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.servers.bootstrap_servers,
            "MONGODB_URI": self.servers.mongodb_uri,
            "MONGODB_DATABASE": self.database,
            "LMP_TOPIC_NAMESPACE": self.namespace,
            "LMP_CONSUMER_GROUP_PREFIX": self.namespace.rstrip("."),
            "LMP_OUTBOX_SWEEP_SECONDS": "1",
            "LMP_KAFKA_SESSION_TIMEOUT_SECONDS": "6",
            "LMP_TIMER_INTERVAL_SECONDS": "0.5",
            "PYTHONPATH": str(PROJECT_ROOT),
            "LMP_HOME": str(self.workdir / "home"),
            **self.extra_env,
        }

    async def start(self) -> None:
        await ensure_topics(self.catalogue, self.servers.bootstrap_servers)
        await self.store.ensure_indexes()

    def start_processor(
        self, name: str, *, instance: str = "", env: dict[str, str] | None = None
    ) -> ManagedProcess:
        """``lmp-billing process name`` as its own process; ``instance`` tells apart
        several of the same processor (their logs and handles)."""
        handle = f"{name}{instance}"
        env = {**self.env(), "LMP_INSTANCE_ID": handle, **(env or {})}
        # Slowed batches (the fault suite's SIGTERM mid-batch) wrap the product from here.
        entry = "tests.faults.slow_batches" if SLOW_BATCHES in env else "services.cli"
        proc = ManagedProcess(
            name=handle,
            argv=[sys.executable, "-m", entry, "process", name],
            log_path=self.workdir / f"{handle}.log",
            pid_path=self.workdir / f"{handle}.pid",
            env=env,
            cwd=PROJECT_ROOT,
        )
        proc.start()
        self.processes[handle] = proc
        return proc

    def kill_processor(self, name: str) -> None:
        """SIGKILL: no graceful shutdown, no final commit; at-least-once must hold."""
        proc = self.processes.pop(name)
        pid = proc.pid()
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)
        proc.stop(timeout=5)

    def terminate_processor(self, name: str, timeout: float = 60.0) -> int | None:
        """SIGTERM, as an orchestrator stops a process; returns its exit code."""
        proc = self.processes.pop(name)
        pid = proc.pid()
        if pid is not None:
            os.killpg(pid, signal.SIGTERM)
        proc.stop(timeout=timeout)
        return proc.returncode()

    def logs(self, name: str, lines: int = 60) -> str:
        return tail(self.workdir / f"{name}.log", lines)

    async def publish(
        self, contract_topic: str, records: Sequence[tuple[bytes | None, bytes]]
    ) -> None:
        await self.publish_with_headers(contract_topic, [(k, v, []) for k, v in records])

    async def publish_with_headers(
        self,
        contract_topic: str,
        records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]],
    ) -> None:
        """(key, value, headers) records, e.g. CloudEvents in binary content mode."""
        producer = await self.producer()
        topic = self.topic(contract_topic)
        futures = [
            await producer.send(topic, value, key=key, headers=headers or None)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.servers.bootstrap_servers, acks="all", linger_ms=5
            )
            await self._producer.start()
        return self._producer

    async def runtime(self, name: str, clock: Callable[[], datetime]) -> Runtime:
        """A processor's runtime inside the test process, on the test's clock."""
        producer = AiokafkaProducer(await self.producer())
        publisher = Publisher(lambda: producer)
        return build_runtime(name, self.settings, self.catalogue, self.store, publisher, clock)

    async def read_all(self, contract_topic: str, timeout: float = 2.0) -> list[dict[str, Any]]:
        """Every record on a topic so far, decoded as JSON (value, and the bytes as raw)
        with key and partition."""
        topic = self.topic(contract_topic)
        if topic not in self._readers:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.servers.bootstrap_servers, enable_auto_commit=False
            )
            await consumer.start()
            tps = [TopicPartition(topic, p) for p in range(self.catalogue[topic].partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            self._readers[topic] = (consumer, tps, [])
        consumer, tps, seen = self._readers[topic]
        ends = await consumer.end_offsets(tps)
        deadline = asyncio.get_running_loop().time() + timeout
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            if asyncio.get_running_loop().time() > deadline:
                break
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for rec in records:
                    seen.append(
                        {
                            "key": rec.key,
                            "partition": rec.partition,
                            "offset": rec.offset,
                            "value": json.loads(rec.value) if rec.value is not None else None,
                            "raw": rec.value,
                            "headers": list(rec.headers),
                        }
                    )
        return list(seen)

    async def run_processors(
        self, names: tuple[str, ...], env: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        """Topics, indexes and the named processors, each its own process (``env``: the
        environment a processor gets beyond the system's, by name)."""
        await self.start()
        for name in names:
            self.start_processor(name, env=dict((env or {}).get(name, {})))

    def dead_processors(self) -> list[str]:
        return [name for name, proc in self.processes.items() if not proc.running()]

    async def close(self) -> None:
        stop_all(self.processes.values())
        self.processes.clear()
        if self._producer is not None:
            await self._producer.stop()
        for consumer, _tps, _seen in self._readers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()
        await self.store.db.client.drop_database(self.database)
        await self.store.close()
