"""Following what the processors publish about the run on the outbound topics."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from services.adapters.catalogue import Catalogue
from services.adapters.kafka_security import Brokers, client_kwargs
from services.adapters.publisher import DEAD_LETTER_TOPIC
from tooling.demo.errors import DemoError

CONNECT_SECONDS = 10.0

OUTBOUND = (
    "lmp.report-events.v1",
    "lmp.penalties.v1",
    "lmp.trendmicro-submissions.v1",
    DEAD_LETTER_TOPIC,
)


class Observer:
    """What the processors published about this run, followed on the outbound topics.

    It starts at the topics' ends before the demo publishes anything, so what it sees
    is this run's doing; events are taken once per id (delivery is at least once).
    """

    def __init__(self, consumer: AIOKafkaConsumer, mark: str) -> None:
        self._consumer = consumer
        self._mark = mark
        self._seen: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None
        self.caused: dict[str, set[str]] = {}
        self.refusals: dict[str, dict[str, Any]] = {}
        self.automatic: dict[str, str] = {}
        self.penalties: set[str] = set()
        self.billing_submissions = 0
        self.reminders = 0
        self.dead_letters: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, bootstrap: Brokers, catalogue: Catalogue, mark: str) -> Observer:
        consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), enable_auto_commit=False)
        try:
            await asyncio.wait_for(consumer.start(), CONNECT_SECONDS)
            existing = await consumer.topics()
        except (KafkaError, OSError, TimeoutError) as exc:
            await consumer.stop()
            raise DemoError(f"Kafka at {bootstrap} does not answer: {exc!r}") from exc
        missing = sorted(set(catalogue.topics) - existing)
        if missing:
            await consumer.stop()
            raise DemoError(
                f"topic {missing[0]} does not exist on {bootstrap} ({len(missing)} missing): "
                "is the system running (`lmp-billing up`) with the same LMP_TOPIC_NAMESPACE "
                f"({catalogue.namespace!r})?"
            )
        partitions = [
            TopicPartition(name, p)
            for name in (catalogue.physical(t) for t in OUTBOUND)
            for p in range(catalogue[name].partitions)
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, ends[tp])
        observer = cls(consumer, mark)
        observer._task = asyncio.create_task(observer._follow())
        return observer

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def check(self) -> None:
        if self.failure is not None:
            raise DemoError(f"reading the outbound topics failed: {self.failure!r}")

    async def _follow(self) -> None:
        try:
            while True:
                batch = await self._consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        self._take(record.value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failure = exc

    def _take(self, value: bytes | None) -> None:  # noqa: C901 - one branch per topic the demo watches
        try:
            event = json.loads(value or b"")
        except ValueError:
            return
        if not isinstance(event, dict) or event.get("id") in self._seen:
            return
        data = event.get("data")
        if not isinstance(data, dict):
            return
        about = f"{event.get('subject')} {data.get('report_id')} {data.get('key')}"
        if self._mark not in about:
            return
        self._seen.add(event["id"])
        kind = event.get("type", "")
        if kind == "lmp.action.rejected":
            self.refusals[data["action_id"]] = data
        elif kind == "lmp.dead-letter":
            self.dead_letters.append(data)
        elif kind == "lmp.penalty.assessed":
            self.penalties.add(data["report_id"])
        elif kind == "lmp.billing.submitted":
            self.billing_submissions += 1
        elif kind.startswith("lmp.report."):
            cause = data.get("caused_by") or ""
            self.caused.setdefault(cause, set()).add(kind)
            if kind == "lmp.report.submitted" and cause.startswith("auto/"):
                self.automatic[data["report_id"]] = data.get("submission_kind") or ""
            if kind == "lmp.report.deadline-reminder":
                self.reminders += 1
