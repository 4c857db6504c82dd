"""Action latency: partner and distributor actions at a steady rate against running processors.

    python -m benchmarks.bench_actions [--rate 200] [--seconds 60] [--reports 1000]

Starts the usage, accounts, partner-actions and distributor-actions processors as
their own processes, opens ``--reports`` reports (half left with the partner, half
submitted to the distributor), then publishes draft-saved actions of partners and
distributors, alternating, at ``--rate`` per second for ``--seconds``. The latency of
an action is the time from its publication (the producer's acknowledgement of the
send is not waited for) to the arrival of the ``lmp.report.draft-saved`` event it
caused on ``lmp.report-events.v1``. Prints p50/p95/p99 and max; target p99 <= 200 ms.

The servers and processors are started fresh by the benchmark, so the first
``--warmup`` seconds (20 by default) drive the same load without being counted: the
broker's JIT compiler and the processors' caches settle there, as they long have in a
running system. Their figures are printed on a line of their own, never mixed in.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from benchmarks.common import servers
from services.adapters.catalogue import Catalogue, ensure_topics
from services.adapters.store import connect
from services.settings import PROJECT_ROOT, Settings
from tooling.infra.process import ManagedProcess, tail

CYCLE = "2026-10"
PROCESSORS = ("usage", "accounts", "partner-actions", "distributor-actions")


def event(type_: str, data: dict[str, Any], id_: str | None = None) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": id_ or uuid.uuid4().hex,
            "source": "bench",
            "type": type_,
            "time": "2026-11-01T00:00:00Z",
            "data": data,
        }
    ).encode()


def partner(i: int) -> str:
    return f"LP{i:05d}"


def report_id(i: int) -> str:
    return f"{partner(i)}:{CYCLE}"


@dataclass(frozen=True)
class Latency:
    action: int
    """The action's index in the run: the first ``rate * warmup`` are the warm-up."""
    sent_at: float
    """Seconds after the first send."""
    seconds: float


@dataclass(frozen=True)
class Drive:
    latencies: list[Latency]
    missing: int


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


class Bench:
    def __init__(
        self, bootstrap: str, uri: str, workdir: Path, reports: int, log_level: str = "warning"
    ) -> None:
        self.bootstrap = bootstrap
        self.reports = reports
        self.workdir = workdir
        namespace = f"bench{uuid.uuid4().hex[:6]}."
        self.database = f"bench_actions_{uuid.uuid4().hex[:6]}"
        self.settings = Settings(
            KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            MONGODB_URI=uri,
            MONGODB_DATABASE=self.database,
            topic_namespace=namespace,
        )
        self.catalogue = Catalogue.load(*self.settings.catalogue_args())
        self.store = connect(self.settings)
        self.env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "MONGODB_URI": uri,
            "MONGODB_DATABASE": self.database,
            "LMP_TOPIC_NAMESPACE": namespace,
            "LMP_CONSUMER_GROUP_PREFIX": namespace.rstrip("."),
            "LMP_LOG_LEVEL": log_level,
            "LMP_HOME": str(workdir / "home"),
        }
        self.processes: list[ManagedProcess] = []
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)

    def topic(self, name: str) -> str:
        return self.catalogue.physical(name)

    async def send(self, topic: str, key: str, value: bytes) -> Any:
        return await self.producer.send(self.topic(topic), value, key=key.encode())

    async def setup(self) -> None:
        await ensure_topics(self.catalogue, self.bootstrap)
        await self.store.ensure_indexes()
        await self.producer.start()
        for name in PROCESSORS:
            proc = ManagedProcess(
                name,
                [sys.executable, "-m", "services.cli", "process", name],
                self.workdir / f"{name}.log",
                self.workdir / f"{name}.pid",
                self.env,
                cwd=PROJECT_ROOT,
            )
            proc.start()
            self.processes.append(proc)
        pending = []
        for i in range(self.reports):
            account = {
                "partner_id": partner(i),
                "name": partner(i),
                "distributor_id": f"LD{i % 20}",
                "region": "EMEA",
                "currency": "EUR",
                "auto_submit_days": 5,
            }
            pending.append(
                await self.send(
                    "lmp.accounts.v1", partner(i), event("lmp.account.partner", account)
                )
            )
            for product in ("PRD-A", "PRD-B"):
                usage = {
                    "partner_id": partner(i),
                    "cycle": CYCLE,
                    "product_id": product,
                    "subscription_id": "S1",
                    "provisioned_units": 10,
                    "used_units": 10,
                    "observed_at": "2026-10-20T00:00:00Z",
                }
                pending.append(
                    await self.send("lmp.usage.v1", partner(i), event("lmp.usage.reported", usage))
                )
        await asyncio.gather(*pending)
        await self.wait_for({"account_pending": False}, self.reports)
        half = self.reports // 2
        submits = [
            await self.send(
                "lmp.partner-actions.v1",
                report_id(i),
                event("lmp.partner.report-submitted", self.body(i, partner(i))),
            )
            for i in range(half, self.reports)
        ]
        await asyncio.gather(*submits)
        await self.wait_for({"status": "under_review"}, self.reports - half)

    def body(self, i: int, account: str, **extra: Any) -> dict[str, Any]:
        return {
            "report_id": report_id(i),
            "actor": {"account_id": account, "user_id": "bench"},
            **extra,
        }

    async def wait_for(self, query: dict[str, Any], count: int) -> None:
        while await self.store.reports.count_documents(query) < count:
            for proc in self.processes:
                if not proc.running():
                    raise RuntimeError(f"{proc.name} died:\n{tail(proc.log_path)}")
            await asyncio.sleep(0.5)

    async def drive(self, rate: float, seconds: float) -> Drive:
        """Publish at ``rate`` for ``seconds``; the first outbound event of each action counts.

        An outbox relay may publish an event again (at least once): a repeat is not a new
        latency. Actions whose event never came within 30 s of the last send are missing.
        """
        sent: dict[str, tuple[int, float]] = {}
        latencies: list[Latency] = []
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, fetch_max_wait_ms=100)
        await consumer.start()
        topic = self.topic("lmp.report-events.v1")
        partitions = [TopicPartition(topic, p) for p in range(self.catalogue[topic].partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)
        stop = asyncio.Event()

        async def read() -> None:
            while not stop.is_set() or sent:
                batch = await consumer.getmany(timeout_ms=50)
                now = time.perf_counter()
                for records in batch.values():
                    for record in records:
                        cause = json.loads(record.value)["data"].get("caused_by")
                        first = sent.pop(cause, None) if isinstance(cause, str) else None
                        if first is not None:
                            n, at = first
                            latencies.append(Latency(n, at - started, now - at))
                if stop.is_set() and now - last_send[0] > 30:
                    return

        last_send = [time.perf_counter()]
        reader = asyncio.create_task(read())
        half = self.reports // 2
        total = int(rate * seconds)
        started = time.perf_counter()
        for n in range(total):
            target = started + n / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            action_id = f"bench-{n}-{uuid.uuid4().hex[:6]}"
            if n % 2 == 0:
                i = (n // 2) % half
                body = self.body(i, partner(i), lines=[{"product_id": "PRD-A", "comment": f"{n}"}])
                topic, type_ = "lmp.partner-actions.v1", "lmp.partner.draft-saved"
            else:
                i = half + (n // 2) % (self.reports - half)
                body = self.body(i, f"LD{i % 20}", po_number=f"PO-{n}")
                topic, type_ = "lmp.distributor-actions.v1", "lmp.distributor.draft-saved"
            sent[action_id] = (n, time.perf_counter())
            await self.send(topic, report_id(i), event(type_, body, action_id))
            last_send[0] = time.perf_counter()
        achieved = total / (time.perf_counter() - started)
        stop.set()
        await reader
        await consumer.stop()
        print(f"published {total} actions at {achieved:.1f}/s; {len(latencies)} events received")
        return Drive(latencies, missing=len(sent))

    async def close(self) -> None:
        for proc in self.processes:
            proc.stop()
        await self.producer.stop()
        await self.store.db.client.drop_database(self.database)
        await self.store.close()


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="lmp-bench-actions-") as tmp:
        home = Path(tmp)
        logs = args.log_dir or home
        logs.mkdir(parents=True, exist_ok=True)
        with servers(home) as (bootstrap, uri):
            bench = Bench(bootstrap, uri, logs, args.reports, args.log_level)
            try:
                started = time.perf_counter()
                await bench.setup()
                print(
                    f"{args.reports} reports open and half submitted in "
                    f"{time.perf_counter() - started:.1f}s"
                )
                drive = await bench.drive(args.rate, args.warmup + args.seconds)
            finally:
                await bench.close()
    first_measured = int(args.rate * args.warmup)
    warmup = [x.seconds * 1000 for x in drive.latencies if x.action < first_measured]
    measured = [
        (x.sent_at - args.warmup, x.seconds * 1000)
        for x in drive.latencies
        if x.action >= first_measured
    ]
    if drive.missing:
        print(f"{drive.missing} actions got no outbound event within 30 s", file=sys.stderr)
    if not measured:
        print("no outbound events arrived", file=sys.stderr)
        return 1
    if warmup:
        print(f"warm-up, first {args.warmup:g}s, not counted:  {summary(warmup)}")
    print(f"latency from publication to outbound event, every {TIMELINE_STEP:g}s:")
    for start, window in timeline(measured):
        print(f"  {start:4.0f}s  {summary(window)}")
    ms = [latency for _, latency in measured]
    print(f"over all {len(ms)} measured actions:")
    print(f"  {summary(ms)}")
    met = percentile(ms, 99) <= 200 and not drive.missing
    print(f"target p99 <= 200 ms: {'met' if met else 'NOT met'}")
    return 0


TIMELINE_STEP = 10.0


def summary(ms: list[float]) -> str:
    p50, p95, p99 = (percentile(ms, p) for p in (50, 95, 99))
    return f"p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   p99 {p99:6.1f} ms   max {max(ms):6.1f} ms"


def timeline(measured: list[tuple[float, float]]) -> list[tuple[float, list[float]]]:
    windows: dict[int, list[float]] = {}
    for at, latency in measured:
        windows.setdefault(int(at // TIMELINE_STEP), []).append(latency)
    return [(n * TIMELINE_STEP, windows[n]) for n in sorted(windows)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured, after warm-up")
    parser.add_argument("--warmup", type=float, default=20.0, help="driven, not counted")
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--log-dir", type=Path, help="keep the processors' logs here")
    parser.add_argument("--log-level", default="warning", help="the processors' log level")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
