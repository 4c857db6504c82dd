"""The live state of the topic catalogue on the broker: partitions, offsets, consumer lag.

Read-only and printing nothing, so the same rows serve ``lmp-billing topics list`` and a
consumer-lag gauge.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict, computed_field

from services.adapters.catalogue import Catalogue
from services.adapters.failures import is_transient
from services.adapters.kafka_security import Brokers, client_kwargs

GROUP_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
"""A contract consumer spelled like this is one of ours, with group ``<prefix>-<name>``;
others ("Trend Micro back office") are outside parties whose group names we cannot know."""

_OFFSET_QUERIES_AT_ONCE = 16


class GroupLag(BaseModel):
    """How far one consumer group is behind on one topic."""

    model_config = ConfigDict(frozen=True)

    group: str
    declared: bool
    """Named as a consumer of the topic in topics.yaml (otherwise found on the broker)."""
    committed: int
    """Sum of the committed offsets, over the partitions that have one."""
    partitions_committed: int
    lag: int
    """Messages still to read: end minus committed, from the beginning where none is."""
    lag_by_partition: dict[int, int]


class TopicStatus(BaseModel):
    """One topic of the catalogue as the contract declares it and the broker has it."""

    model_config = ConfigDict(frozen=True)

    contract_name: str
    name: str
    direction: str
    declared_partitions: int
    partitions: int | None
    """Live partition count; None when the topic does not exist."""
    end_offset: int
    """Sum of end offsets: every message ever written to the topic."""
    beginning_offset: int
    """Sum of the first retained offsets; ``end - beginning`` is what is still kept."""
    groups: tuple[GroupLag, ...]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def missing(self) -> bool:
        return self.partitions is None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def partitions_differ(self) -> bool:
        return self.partitions is not None and self.partitions != self.declared_partitions


def group_name(prefix: str, consumer: str) -> str:
    """The consumer group of a processor, as ``services.app.build_processor`` names it."""
    return f"{prefix}-{consumer}"


STATUS_ATTEMPTS = 3


async def topic_status(
    bootstrap: Brokers, catalogue: Catalogue, group_prefix: str, *, discover_groups: bool = True
) -> list[TopicStatus]:
    """Every catalogue topic with its live partitions, end offsets and consumer lag.

    The admin client sends each request to a broker of its choosing; while one broker of a
    cluster is down a request may land on it, so a transient failure is asked again (a few
    times, briefly) before it is reported.
    """
    for attempt in range(1, STATUS_ATTEMPTS + 1):
        try:
            return await _topic_status(
                bootstrap, catalogue, group_prefix, discover_groups=discover_groups
            )
        except KafkaError as exc:
            if attempt == STATUS_ATTEMPTS or not is_transient(exc):
                raise
            await asyncio.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


async def _topic_status(
    bootstrap: Brokers, catalogue: Catalogue, group_prefix: str, *, discover_groups: bool
) -> list[TopicStatus]:
    """One attempt of ``topic_status``: every catalogue topic with its live partitions, end
    offsets and consumer lag.

    Groups are our processors that the contract names as consumers of an inbound topic
    (``<prefix>-<consumer>``; consumers of outbound topics are outside parties whose group
    names we cannot know) and, with ``discover_groups``, any other group with offsets
    committed on a catalogue topic (one offset query per group on the cluster).
    """
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap))
    try:
        await admin.start()
        live = await _live_partitions(admin, catalogue.topics)
        tps = [TopicPartition(topic, p) for topic, parts in live.items() for p in parts]
        beginning, end = await _offsets(bootstrap, tps)
        declared = {
            name: [
                group_name(group_prefix, c)
                for c in spec.consumers
                if spec.direction == "in" and GROUP_NAME.match(c)
            ]
            for name, spec in catalogue.topics.items()
        }
        wanted = {g for groups in declared.values() for g in groups}
        if discover_groups:
            with contextlib.suppress(KafkaError):
                wanted |= {str(g[0]) for g in await admin.list_consumer_groups()}
        committed = await _committed(admin, sorted(wanted), set(live))
    finally:
        await admin.close()

    rows = []
    for name, spec in catalogue.topics.items():
        parts = live.get(name)
        topic_tps = [TopicPartition(name, p) for p in parts or []]
        groups = list(declared[name])
        groups += sorted(
            g
            for g, offsets in committed.items()
            if g not in groups and any(tp.topic == name for tp in offsets)
        )
        rows.append(
            TopicStatus(
                contract_name=name.removeprefix(catalogue.namespace),
                name=name,
                direction=spec.direction,
                declared_partitions=spec.partitions,
                partitions=len(parts) if parts is not None else None,
                end_offset=sum(end[tp] for tp in topic_tps),
                beginning_offset=sum(beginning[tp] for tp in topic_tps),
                groups=tuple(
                    _lag(g, g in declared[name], topic_tps, committed.get(g, {}), beginning, end)
                    for g in groups
                ),
            )
        )
    return rows


async def live_partitions(bootstrap: Brokers, topics: Iterable[str]) -> dict[str, list[int]]:
    """The partitions of each of ``topics`` that exists; missing topics are left out."""
    admin = AIOKafkaAdminClient(**client_kwargs(bootstrap))
    try:
        await admin.start()
        return await _live_partitions(admin, topics)
    finally:
        await admin.close()


async def _live_partitions(
    admin: AIOKafkaAdminClient, topics: Iterable[str]
) -> dict[str, list[int]]:
    existing = set(await admin.list_topics())
    present = [name for name in topics if name in existing]
    described = await admin.describe_topics(present) if present else []
    return {info["topic"]: sorted(p["partition"] for p in info["partitions"]) for info in described}


def _lag(
    group: str,
    declared: bool,
    tps: Iterable[TopicPartition],
    committed: dict[TopicPartition, int],
    beginning: dict[TopicPartition, int],
    end: dict[TopicPartition, int],
) -> GroupLag:
    """Lag per partition; a committed offset older than the retained log counts from its start."""
    by_partition = {}
    total = 0
    count = 0
    for tp in tps:
        offset = committed.get(tp)
        if offset is not None:
            total += offset
            count += 1
        by_partition[tp.partition] = max(0, end[tp] - max(offset or 0, beginning[tp]))
    return GroupLag(
        group=group,
        declared=declared,
        committed=total,
        partitions_committed=count,
        lag=sum(by_partition.values()),
        lag_by_partition=by_partition,
    )


async def _offsets(
    bootstrap: Brokers, tps: list[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Beginning and end offsets, from a consumer that belongs to no group."""
    if not tps:
        return {}, {}
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), enable_auto_commit=False)
    try:
        await consumer.start()
        beginning: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
        end: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return beginning, end
    finally:
        await consumer.stop()


async def _committed(
    admin: AIOKafkaAdminClient, groups: list[str], topics: set[str]
) -> dict[str, dict[TopicPartition, int]]:
    """Committed offsets of each group on ``topics``; groups with none are left out."""
    limit = asyncio.Semaphore(_OFFSET_QUERIES_AT_ONCE)

    async def one(group: str) -> dict[TopicPartition, int]:
        async with limit:
            offsets: dict[Any, Any] = {}
            with contextlib.suppress(KafkaError):
                offsets = await admin.list_consumer_group_offsets(group)
        return {
            TopicPartition(tp.topic, tp.partition): meta.offset
            for tp, meta in offsets.items()
            if tp.topic in topics and meta.offset >= 0
        }

    found = await asyncio.gather(*(one(g) for g in groups))
    return {g: offsets for g, offsets in zip(groups, found, strict=True) if offsets}
