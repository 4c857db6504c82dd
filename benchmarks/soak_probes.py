"""What the soak samples, read from outside the processes: their memory from /proc, their
groups' offsets from the broker, the outbox and the size from the database. A killed
processor serves no /metrics, so nothing here asks the processes themselves."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from benchmarks.soak_support import Row, recovered, time_lag
from services.adapters.catalogue import Catalogue
from services.adapters.kafka_admin import group_name

MIB = 1024 * 1024
POLL_SECONDS = 0.5
HISTORY_SECONDS = 5.0
"""Polls before a kill count towards its group's usual time lag once this much history
is there to date the records waiting (a usage batch waits a few seconds)."""
BEFORE_KILL_SECONDS = 20.0
"""How long before a kill its group is watched."""


def rss_mib(pid: int) -> float:
    """Resident memory of a process and of every process in its group (the API's
    workers, say), from /proc; NaN once it is gone."""
    total = 0
    found = False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pid:  # the process group
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    found = True
        except (OSError, ValueError, IndexError):
            continue
    return total / MIB if found else math.nan


def disk_mib(path: Path) -> float:
    """Bytes of every file under ``path``, as stored (the server's data files)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).stat().st_blocks * 512
    return total / MIB


class LagProbe:
    """Committed and end offsets of the processors' groups, over long-lived clients."""

    def __init__(self, bootstrap: str, catalogue: Catalogue, group_prefix: str) -> None:
        self.catalogue = catalogue
        self.prefix = group_prefix
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def close(self) -> None:
        await self.admin.close()
        await self.consumer.stop()

    def partitions(self, processor: str) -> list[TopicPartition]:
        """The partitions of the inbound topics the processor consumes."""
        return [
            TopicPartition(name, p)
            for name, spec in self.catalogue.topics.items()
            if spec.direction == "in" and processor in spec.consumers
            for p in range(spec.partitions)
        ]

    async def offsets(self, processor: str) -> tuple[dict[int, int], dict[int, int]]:
        """(committed, end) by partition index (one topic a processor here); a partition
        never committed counts from 0."""
        tps = self.partitions(processor)
        ends: dict[TopicPartition, int] = await self.consumer.end_offsets(tps)
        found = await self.admin.list_consumer_group_offsets(group_name(self.prefix, processor))
        committed = {tp.partition: 0 for tp in tps}
        for tp, meta in found.items():
            if tp in ends and meta.offset >= 0:
                committed[tp.partition] = meta.offset
        return committed, {tp.partition: end for tp, end in ends.items()}

    async def lag(self, processor: str) -> float:
        """Records not yet committed; NaN when the broker did not answer."""
        try:
            committed, end = await self.offsets(processor)
        except KafkaError:
            return math.nan
        return sum(end[p] - committed[p] for p in end)

    async def around_kill(
        self,
        processor: str,
        killed: asyncio.Future[float],
        bound_s: float,
        clock: Callable[[], float],
        on_poll: Callable[[int], None],
    ) -> tuple[float, float]:
        """Poll the group from before its kill (``killed`` gives the ``clock()`` time of
        the kill) until it has recovered (``soak_support.recovered``): the longest time lag
        seen before the kill, and the seconds from the kill to recovered (NaN: not within
        ``bound_s``). Every poll's lag in records goes to ``on_poll``, for the plot."""
        ends: list[tuple[float, Mapping[int, int]]] = []
        before: list[float] = [0.0]
        killed_at: float | None = None
        committed_at_kill: Mapping[int, int] = {}
        while killed_at is None or clock() - killed_at <= bound_s:
            was_killed = killed.done()
            now = clock()
            try:
                committed, end = await self.offsets(processor)
            except KafkaError:
                await asyncio.sleep(POLL_SECONDS)
                continue
            ends.append((now, end))
            on_poll(sum(end[p] - committed[p] for p in end))
            if not was_killed:
                if now - ends[0][0] >= HISTORY_SECONDS:
                    before.append(time_lag(ends, committed, now))
            elif killed_at is None:
                killed_at, committed_at_kill = killed.result(), committed
            elif recovered(ends, committed, committed_at_kill, now, max(before)):
                return max(before), now - killed_at
            await asyncio.sleep(POLL_SECONDS)
        return max(before), math.nan


async def outbox_backlog(reports: Any) -> int:
    """Events waiting in the reports' outboxes (written, not yet published)."""
    pipeline = [
        {"$match": {"outbox_since": {"$ne": None}}},
        {"$group": {"_id": None, "n": {"$sum": {"$size": "$outbox"}}}},
    ]
    cursor = reports.aggregate(pipeline)
    if inspect.isawaitable(cursor):  # PyMongo's async client; motor's is a cursor at once
        cursor = await cursor
    found = await cursor.to_list(None)
    return int(found[0]["n"]) if found else 0


async def database_rows(db: Any, elapsed: float, data_dir: Path | None) -> list[Row]:
    """Outbox backlog, dbStats' data size and, for the embedded server, its files."""
    stats: Mapping[str, Any] = await db.command("dbStats")
    rows = [
        Row(elapsed, "outbox_backlog", "reports", None, await outbox_backlog(db["reports"])),
        Row(elapsed, "db_data_mib", db.name, None, float(stats.get("dataSize", 0)) / MIB),
    ]
    if data_dir is not None:
        size = await asyncio.to_thread(disk_mib, data_dir)
        rows.append(Row(elapsed, "db_disk_mib", db.name, None, size))
    return rows
