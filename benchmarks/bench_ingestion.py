"""Usage ingestion benchmark: the real processor against a hand-written aiokafka loop.

Fills a topic with usage messages (default 200,000 for 1,000 partners), then measures
in one run, on the same data and the same database server:

  (a) the ingestion processor (``lmp-billing process usage`` as its own process), from
      its start until every message is reflected in the database, once per driver
      (motor, PyMongo's AsyncMongoClient), with the process's peak resident memory;
  (b) a raw baseline: aiokafka ``getmany`` -> ``model_validate_json`` -> aggregate
      peaks -> one unordered ``bulk_write`` of ``$max`` upserts per batch;
  (c) the processor's faust wiring around a handler that only counts
      (``benchmarks/faust_ceiling.py``): the most any faust processor built this way
      can do here.

Prints the rates and the ratio (a)/(b). With ``--rounds N`` (a and b) run N times by
turns and the ratio printed is the median of the N rounds' ratios: on two shared cores
one pair moves by +-0.05 from run to run (the raw loop alone took 8.1 to 11.1 s), and a
pair run side by side shares the machine's state of that minute. Servers are the
embedded ones unless KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI are set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import UpdateOne

from benchmarks import tracing_modes
from benchmarks.common import cpu_seconds, peak_rss_mib, server_cpu, servers
from schemas.envelope import CloudEvent
from schemas.usage import UsageReported
from services.adapters.catalogue import Catalogue, ensure_topics
from services.adapters.kafka_admin import group_name
from services.adapters.store import Store, connect
from services.settings import PROJECT_ROOT, Settings
from tooling.infra.process import ManagedProcess, tail

CYCLE = "2026-10"


def usage_messages(partners: int, total: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """``total`` snapshots spread over partners x 5 products x 4 subscriptions."""
    rng = random.Random(seed)
    subs = [
        (f"BP{p:05d}", f"PRD-{k}", f"SUB-{s}")
        for p in range(partners)
        for k in range(5)
        for s in range(4)
    ]
    out = []
    for i in range(total):
        partner, product, sub = subs[i % len(subs)]
        prov = rng.randint(1, 500)
        used = None if product == "PRD-4" else rng.randint(0, prov)
        event = {
            "specversion": "1.0",
            "id": f"bench-{i}",
            "source": "bench",
            "type": "lmp.usage.reported",
            "time": "2026-10-20T00:00:00Z",
            "subject": None,
            "data": {
                "partner_id": partner,
                "cycle": CYCLE,
                "product_id": product,
                "subscription_id": sub,
                "provisioned_units": prov,
                "used_units": used,
                "observed_at": "2026-10-20T00:00:00Z",
            },
        }
        out.append((partner.encode(), json.dumps(event).encode()))
    rng.shuffle(out)
    return out


def expected_total(messages: list[tuple[bytes, bytes]]) -> int:
    peaks: dict[tuple[str, str, str], int] = {}
    for _key, value in messages:
        d = json.loads(value)["data"]
        k = (d["partner_id"], d["product_id"], d["subscription_id"])
        peaks[k] = max(peaks.get(k, 0), d["provisioned_units"])
    return sum(peaks.values())


async def fill(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        for start in range(0, len(messages), 5000):
            futures = [
                await producer.send(topic, v, key=k) for k, v in messages[start : start + 5000]
            ]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def run_processor(
    bootstrap: str,
    uri: str,
    namespace: str,
    driver: str,
    total_units: int,
    workdir: Path,
    log_level: str = "warning",
    ceiling_of: int = 0,
    extra_env: dict[str, str] | None = None,
    count: int = 0,
) -> Run:
    """Run the usage processor (or, with ``ceiling_of`` messages, faust_ceiling) to the end."""
    database = f"bench_{driver}_{uuid.uuid4().hex[:6]}"
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap, MONGODB_URI=uri, MONGODB_DATABASE=database
    )
    store = connect(settings)
    prefix = f"bench-{driver}-{uuid.uuid4().hex[:6]}"
    group = group_name(prefix, "usage")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MONGODB_URI": uri,
        "MONGODB_DATABASE": database,
        "MONGODB_DRIVER": driver,
        "LMP_TOPIC_NAMESPACE": namespace,
        "LMP_CONSUMER_GROUP_PREFIX": prefix,
        "LMP_LOG_LEVEL": log_level,
        "LMP_HOME": str(workdir / "home"),
        **(extra_env or {}),
    }
    name = "ceiling" if ceiling_of else f"usage-{driver}"
    argv = ["-m", "benchmarks.faust_ceiling"] if ceiling_of else ["-m", "services.cli"]
    proc = ManagedProcess(
        name,
        [sys.executable, *argv, *([] if ceiling_of else ["process", "usage"])],
        workdir / f"{name}.log",
        workdir / f"{name}.pid",
        env,
        cwd=PROJECT_ROOT,
    )
    started = time.perf_counter()
    servers_before = server_cpu()
    proc.start()
    peak, cpu = 0.0, 0.0
    try:
        while True:
            if not proc.running():
                raise RuntimeError(f"processor died:\n{tail(proc.log_path)}")
            pid = proc.pid()
            if pid is not None:
                peak = max(peak, peak_rss_mib(pid))
                cpu = max(cpu, cpu_seconds(pid))
            if ceiling_of:
                counted = await store.db["ceiling"].find_one({"_id": "count"})
                finished = counted is not None and counted["seen"] >= ceiling_of
            else:
                finished = await committed(admin, group) >= count
            if finished:
                seconds = time.perf_counter() - started
                spent = _spent(servers_before, {"processor": cpu_seconds(pid or 0) or cpu})
                if not ceiling_of:
                    await check_units(store, total_units)
                return Run(seconds, peak, spent)
            await asyncio.sleep(0.1)
    finally:
        proc.stop()
        await admin.close()
        await store.db.client.drop_database(database)
        await store.close()


CPU_ROLES = ("processor", "database", "broker")


@dataclass
class Run:
    """One timed run: wall seconds, peak RSS of the processor (MiB), CPU seconds by role."""

    seconds: float
    peak: float
    cpu: dict[str, float]


def median_run(runs: list[Run]) -> Run:
    """The run of median wall time (the lower middle one of an even count)."""
    return sorted(runs, key=lambda run: run.seconds)[(len(runs) - 1) // 2]


def _spent(servers_before: dict[str, float], own: dict[str, float]) -> dict[str, float]:
    now = server_cpu()
    return {**{role: now[role] - servers_before.get(role, 0.0) for role in now}, **own}


async def committed(admin: AIOKafkaAdminClient, group: str) -> int:
    """The offsets the processor's group has committed, summed over its partitions: the
    bulk path commits a batch after it is applied, so this is what is in the database.
    (A cheap question to the broker: reading every report each time competed with the
    processor for the two cores and the database.)"""
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(max(meta.offset, 0) for meta in offsets.values())


async def check_units(store: Store, total_units: int) -> None:
    """Every usage message's peak is in the reports once the offsets say so."""
    docs = await store.reports.find({}, {"lines.provisioned_units": 1}).to_list(None)
    done = sum(line["provisioned_units"] for d in docs for line in d["lines"])
    if done != total_units:
        raise RuntimeError(f"offsets committed but the reports hold {done} of {total_units} units")


async def warm_coordinator(bootstrap: str, topic: str) -> None:
    """One throwaway group commits first: on a fresh broker the first group pays for the
    creation of ``__consumer_offsets`` (seconds), which is no part of either loop's rate."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"warm-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=1000, max_records=1)
        await consumer.commit()
    finally:
        await consumer.stop()


async def run_baseline(bootstrap: str, uri: str, topic: str, count: int) -> Run:
    """The raw loop a person would write by hand, without faust, receipts or reports."""
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        MONGODB_URI=uri,
        MONGODB_DATABASE=f"bench_raw_{uuid.uuid4().hex[:6]}",
    )
    store = connect(settings)
    peaks = store.db["peaks"]
    started = time.perf_counter()
    servers_before, client_before = server_cpu(), time.process_time()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    seen = 0
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            agg: dict[str, tuple[int, int | None]] = {}
            for records in batches.values():
                for rec in records:
                    u = CloudEvent[UsageReported].model_validate_json(rec.value).data
                    k = f"{u.partner_id}:{u.cycle}:{u.product_id}:{u.subscription_id}"
                    prov, used = agg.get(k, (0, None))
                    agg[k] = (
                        max(prov, u.provisioned_units),
                        used if u.used_units is None else max(used or 0, u.used_units),
                    )
                    seen += 1
            if agg:
                await peaks.bulk_write(
                    [
                        UpdateOne(
                            {"_id": k},
                            {"$max": {"provisioned_units": p, "used_units": u or 0}},
                            upsert=True,
                        )
                        for k, (p, u) in agg.items()
                    ],
                    ordered=False,
                )
                await consumer.commit()
        return Run(
            time.perf_counter() - started,
            0.0,
            _spent(servers_before, {"processor": time.process_time() - client_before}),
        )
    finally:
        await consumer.stop()
        await store.db.client.drop_database(settings.mongodb_database)
        await store.close()


async def main_async(args: argparse.Namespace, bootstrap: str, uri: str, workdir: Path) -> None:
    namespace = f"bench{uuid.uuid4().hex[:6]}."
    catalogue = Catalogue.load(PROJECT_ROOT / "topics.yaml", None, namespace)
    await ensure_topics(catalogue, bootstrap)
    topic = catalogue.physical("lmp.usage.v1")
    print(
        f"generating {args.messages:,} usage messages for {args.partners:,} partners...", flush=True
    )
    messages = usage_messages(args.partners, args.messages)
    total_units = expected_total(messages)
    t0 = time.perf_counter()
    await fill(bootstrap, topic, messages)
    print(f"filled {topic} in {time.perf_counter() - t0:.1f}s", flush=True)

    await warm_coordinator(bootstrap, topic)
    baselines: list[Run] = []
    runs: dict[str, list[Run]] = {}
    for round_ in range(args.rounds):
        if args.rounds > 1:
            print(
                f"round {round_ + 1} of {args.rounds}: the raw loop, then the processor", flush=True
            )
        baselines.append(await run_baseline(bootstrap, uri, topic, len(messages)))
        for driver in args.drivers:
            for mode in tracing_modes.modes(args.tracing):
                label = driver if args.tracing == "off" else f"{driver}, tracing {mode}"
                runs.setdefault(label, []).append(
                    await run_processor(
                        bootstrap,
                        uri,
                        namespace,
                        driver,
                        total_units,
                        workdir,
                        args.log_level,
                        extra_env=tracing_modes.MODES[mode],
                        count=len(messages),
                    )
                )
    baseline = median_run(baselines)
    results = {label: median_run(label_runs) for label, label_runs in runs.items()}
    ceiling = await run_processor(
        bootstrap, uri, namespace, "motor", total_units, workdir, ceiling_of=len(messages)
    )
    count = len(messages)
    print()
    print(
        f"{'run':36} {'seconds':>8} {'msg/s':>8} {'peak RSS':>10}   "
        "CPU us/msg: loop/processor, database, broker"
    )
    rows = {
        "(b) raw aiokafka+bulk_write loop": baseline,
        "(c) faust wiring, handler idle": ceiling,
        **{f"(a) processor, {label}": run for label, run in results.items()},
    }
    for label, run in rows.items():
        rss = f"{run.peak:6.0f} MiB" if run.peak else ""
        cpu = ", ".join(f"{run.cpu.get(r, 0.0) / count * 1e6:5.1f}" for r in CPU_ROLES)
        print(f"{label:36} {run.seconds:8.1f} {count / run.seconds:8.0f} {rss:>10}   {cpu}")
    for label, label_runs in runs.items():
        ratios = [b.seconds / r.seconds for b, r in zip(baselines, label_runs, strict=True)]
        if len(ratios) > 1:
            each = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"ratio (a)/(b) with {label}, round by round: {each}")
        print(
            f"ratio (a)/(b) with {label}: {statistics.median(ratios):.2f}"
            f"{' (median of the rounds)' if len(ratios) > 1 else ''}  (target >= 0.8)"
        )
    if args.tracing == "both":
        for driver in args.drivers:
            off, on = results[f"{driver}, tracing off"], results[f"{driver}, tracing on"]
            print(
                f"tracing on / off, {driver}: seconds {on.seconds / off.seconds:.2f}, "
                f"processor CPU {on.cpu['processor'] / off.cpu['processor']:.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--partners", type=int, default=1_000)
    parser.add_argument(
        "--drivers", nargs="+", default=["motor", "pymongo"], choices=["motor", "pymongo"]
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="raw loop and processor this many times, by turns; the rows show the median "
        "run of each and the ratio is the median of the rounds' ratios",
    )
    parser.add_argument("--log-dir", type=Path, help="keep the processor's log here")
    parser.add_argument("--log-level", default="warning", help="the processor's log level")
    tracing_modes.add_flag(parser)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="lmp-bench-") as tmp,
        servers(Path(tmp)) as (bootstrap, uri),
    ):
        logs = args.log_dir or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        asyncio.run(main_async(args, bootstrap, uri, logs))


if __name__ == "__main__":
    main()
