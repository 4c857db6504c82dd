"""One broker of three killed (SIGKILL) under a stream, and started again on its data.

Topics are replicated three times with ``min.insync.replicas=2`` and every producer
writes with acks=all and idempotence, so losing the broker that leads the most of the
test's partitions must cost nothing. Usage for a hundred partners flows from before the
kill until after the broker is back with every replica in sync; partner actions for
twenty reports flow while it is gone and for twenty more once it is back. Every usage
figure must be exactly the highest reported, every action must have exactly its one
expected answer whose events are published under their ids (exact copies are at least
once; ``outbound_copies`` counts them), no event id may carry two payloads, and no
processor may be restarted by hand (each is the process it was at the start, running).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from tests.faults.conftest import ClusterServers
from tests.faults.ledger import OUTBOUND, GroupProgress, settled, stop_tasks
from tests.faults.support import (
    ROUND_SECONDS,
    Sent,
    UsageStream,
    action_waves,
    opened_months,
    patiently,
    tally,
)
from tests.harness import System, eventually
from tests.scenario import Month

pytestmark = pytest.mark.faults

PROCESSORS = ("usage", "accounts", "pricing", "partner-actions")
REPORTS = 40
USAGE = "lmp.usage.v1"
BROKER_AWAY_SECONDS = 10.0
ROUNDS_AFTER = 10  # of usage once every replica is back in sync


async def leaders(system: System) -> tuple[Counter[int], dict[str, list[dict[str, object]]]]:
    """Partitions led per broker over the test's topics, and each topic's partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=system.servers.bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(list(system.catalogue.topics))
    finally:
        await admin.close()
    partitions = {info["topic"]: info["partitions"] for info in described}
    led = Counter(int(p["leader"]) for parts in partitions.values() for p in parts)
    return led, partitions


async def topic_settings(system: System, topic: str) -> tuple[int, str]:
    """(replicas of partition 0, min.insync.replicas) of a topic as the broker has them."""
    _, partitions = await leaders(system)
    replicas = len(partitions[topic][0]["replicas"])  # type: ignore[arg-type]
    admin = AIOKafkaAdminClient(bootstrap_servers=system.servers.bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    configs = {entry[0]: entry[1] for entry in response.resources[0][4]}
    return replicas, configs["min.insync.replicas"]


async def all_in_sync(system: System, size: int) -> bool:
    """Every partition of the test's topics has all its replicas in sync again."""
    try:
        _, partitions = await leaders(system)
    except Exception:
        return False
    return all(
        len(p["isr"]) == size  # type: ignore[arg-type]
        for parts in partitions.values()
        for p in parts
    )


async def broker_loss(cluster: ClusterServers, system: System, back: asyncio.Event) -> list[str]:
    """Kill the broker leading the most partitions once usage flows; start it again after
    a while; set ``back`` once every partition has its three replicas in sync."""
    done = []
    progress = GroupProgress(system, "usage")
    try:

        async def flowing_since(before: int) -> bool:
            try:
                return await progress.committed(USAGE) > before
            except KafkaError:  # the admin client asked the dead broker
                return False

        await eventually(lambda: flowing_since(0), timeout=90, interval=0.2)
        # Flowing steadily (a further commit) before the kill, not a guessed warm-up.
        first = await progress.committed(USAGE)
        await eventually(lambda: flowing_since(first), timeout=90, interval=0.2)
        led, _ = await leaders(system)
        victim, count = led.most_common(1)[0]
        before = await progress.committed(USAGE)
        killed = time.monotonic()
        await asyncio.to_thread(cluster.kafka.kill, victim)
        done.append(f"killed broker {victim} leading {count}/{sum(led.values())} partitions")
        await eventually(lambda: flowing_since(before), timeout=90, interval=0.2)
        done.append(f"usage committed again {time.monotonic() - killed:.1f}s after")
        await asyncio.sleep(max(0.0, BROKER_AWAY_SECONDS - (time.monotonic() - killed)))
        started = time.monotonic()
        await asyncio.to_thread(cluster.kafka.restart, victim)
        serving = time.monotonic()
        done.append(
            f"started again after {started - killed:.1f}s, serving {serving - started:.1f}s later"
        )
        await eventually(lambda: all_in_sync(system, 3), timeout=120, interval=0.5)
        done.append(f"all replicas in sync {time.monotonic() - serving:.1f}s after that")
    finally:
        await progress.close()
        back.set()
    return done


async def usage_until(stream: UsageStream, back: asyncio.Event) -> None:
    """Rounds of usage (as ``UsageStream.run``) until the broker is back, and some more."""
    rng = random.Random(7)
    n = 0
    after = None
    while after is None or n < after + ROUNDS_AFTER:
        if after is None and back.is_set():
            after = n
        records = stream.round(n, rng)
        stream.retries += await patiently(
            lambda r=records: stream.system.publish(USAGE, r)  # type: ignore[misc]
        )
        stream.sent += len(records)
        n += 1
        await asyncio.sleep(ROUND_SECONDS)


async def actions_until(
    system: System, months: list[Month], sent: Sent, back: asyncio.Event
) -> tuple[int, int]:
    """Review waves for the first reports while the broker is away, then for the others
    once it is back; returns (publish retries, reports reviewed)."""
    during, after = months[: REPORTS // 2], months[REPORTS // 2 :]
    retries = await action_waves(system, during, sent)
    await back.wait()
    retries += await action_waves(system, after, sent)
    return retries, len(during) + len(after)


async def copies(system: System) -> int:
    """Outbound records beyond the first of each event id: exact copies, at least once."""
    records = [r for t in OUTBOUND for r in await system.read_all(t, timeout=10.0)]
    return len(records) - len({r["value"]["id"] for r in records if r["value"] is not None})


@pytest.mark.parametrize("path", ["bulk", "agent"])
async def test_losing_one_broker_of_three_loses_and_doubles_nothing(
    replicated: System, cluster_servers: ClusterServers, path: str
) -> None:
    """Both consumer paths of the action processor: its own aiokafka producer, or faust's."""
    system = replicated
    system.extra_env["LMP_ACTION_CONSUMER"] = path
    began = time.monotonic()
    assert await topic_settings(system, system.topic(USAGE)) == (3, "2")
    await system.run_processors(PROCESSORS)
    pids = {name: proc.pid() for name, proc in system.processes.items()}
    months, stream = await opened_months(system, REPORTS)

    sent = Sent()
    back = asyncio.Event()
    usage_task = asyncio.create_task(usage_until(stream, back))
    actions_task = asyncio.create_task(actions_until(system, months, sent, back))
    try:
        faults = await asyncio.wait_for(broker_loss(cluster_servers, system, back), timeout=240)
        await asyncio.wait_for(usage_task, timeout=120)
        action_retries, reviewed = await asyncio.wait_for(actions_task, timeout=240)
    finally:
        await stop_tasks(usage_task, actions_task)

    await settled(system)
    counts, usage_problems, problems = await tally(system, stream, sent)
    counts.show(
        f"one broker of three killed under a stream ({path} path)",
        usage=stream.sent,
        actions=len(sent.expected),
        redeliveries=sent.redeliveries,
        conflicting=len(sent.conflicts),
        reports_reviewed=reviewed,
        outbound_copies=await copies(system),
        publish_retries=stream.retries + action_retries,
        faults="; ".join(faults),
        seconds=f"{time.monotonic() - began:.0f}",
    )
    assert not usage_problems, usage_problems[:10]
    assert not problems, problems[:10]
    counts.assert_sound()
    assert counts.sent == stream.sent + len(sent.expected)
    assert not system.dead_processors(), {n: system.logs(n) for n in system.dead_processors()}
    assert {name: proc.pid() for name, proc in system.processes.items()} == pids
