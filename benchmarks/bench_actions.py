# Over 300 lines: one benchmark (load, drive, measure, report) read as one script.
"""Action latency: partner and distributor actions at a steady rate against running processors.

    python -m benchmarks.bench_actions [--rate 400] [--seconds 60] [--reports 1000]
    python -m benchmarks.bench_actions --long 5 [--past 20000] [--past-history 5000]

Starts the usage, accounts, partner-actions and distributor-actions processors as
their own processes, opens ``--reports`` reports (half left with the partner, half
submitted to the distributor), then publishes draft-saved actions of partners and
distributors, alternating, at ``--rate`` per second for ``--seconds``. The latency of
an action is the time from its publication (the producer's acknowledgement of the
send is not waited for) to the arrival of the ``lmp.report.draft-saved`` event it
caused on ``lmp.report-events.v1``. Prints p50/p95/p99 and max; target p99 <= 100 ms at
400 actions a second (``--rate 400``, issue 18; it was 200 ms at 200 a second).

The servers and processors are started fresh by the benchmark, so the first
``--warmup`` seconds (20 by default) drive the same load without being counted: the
broker's JIT compiler and the processors' caches settle there, as they long have in a
running system. Their figures are printed on a line of their own, never mixed in.

With ``--long K`` (issue 16: an action's cost must not grow with the report's past), K
reports of each side already hold ``--past`` answers (three refused for each one
applied, as a flood of a stranger's actions leaves them) and ``--past-history`` history
entries, seeded straight into the store as it keeps them (refusals in ``outcomes``,
applied answers and history moved out of the document); K other reports of each side
are fresh. Actions then go to the two groups by turns, at the same rate per report, and
the two groups' latencies are printed side by side (target: the long reports' p99
within 20 % of the fresh ones').
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from benchmarks import tracing_modes
from benchmarks.common import cpu_seconds, server_cpu, servers
from schemas.report import Decision, HistoryEntry, HistoryRecord, OrphanOutcome, OutboxEntry
from services.adapters.catalogue import Catalogue, ensure_topics
from services.adapters.store import connect
from services.adapters.store.bounds import history_key
from services.settings import PROJECT_ROOT, Settings
from tooling.infra.process import ManagedProcess, tail

CYCLE = "2026-10"
PROCESSORS = ("usage", "accounts", "partner-actions", "distributor-actions")
TARGET_P99_MS = 100
"""At 400 actions a second (issue 18)."""


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
    long: bool = False
    """Sent to a report with a long past (``--long``)."""


@dataclass(frozen=True)
class Drive:
    latencies: list[Latency]
    missing: int
    cpu: dict[str, float]
    """CPU seconds over the whole drive (warm-up included): the processors together, the
    broker and the database server."""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


class Bench:
    def __init__(
        self,
        bootstrap: str,
        uri: str,
        workdir: Path,
        reports: int,
        log_level: str = "warning",
        long: int = 0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.reports = reports
        self.long = long
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
            **(extra_env or {}),
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

    async def drive(self, rate: float, seconds: float) -> Drive:  # noqa: C901 - one loop driving the load and its stop conditions, read top to bottom
        """Publish at ``rate`` for ``seconds``; the first outbound event of each action counts.

        An outbox relay may publish an event again (at least once): a repeat is not a new
        latency. Actions whose event never came within 30 s of the last send are missing.
        """
        sent: dict[str, tuple[int, float, bool]] = {}
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
                            n, at, long = first
                            latencies.append(Latency(n, at - started, now - at, long))
                if stop.is_set() and now - last_send[0] > 30:
                    return

        cpu_before = self.cpu()
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
            i, long = self.target(n)
            if i < half:
                body = self.body(i, partner(i), lines=[{"product_id": "PRD-A", "comment": f"{n}"}])
                topic, type_ = "lmp.partner-actions.v1", "lmp.partner.draft-saved"
            else:
                body = self.body(i, f"LD{i % 20}", po_number=f"PO-{n}")
                topic, type_ = "lmp.distributor-actions.v1", "lmp.distributor.draft-saved"
            sent[action_id] = (n, time.perf_counter(), long)
            await self.send(topic, report_id(i), event(type_, body, action_id))
            last_send[0] = time.perf_counter()
        achieved = total / (time.perf_counter() - started)
        stop.set()
        await reader
        await consumer.stop()
        cpu = {role: spent - cpu_before.get(role, 0.0) for role, spent in self.cpu().items()}
        print(f"published {total} actions at {achieved:.1f}/s; {len(latencies)} events received")
        return Drive(latencies, missing=len(sent), cpu=cpu)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: the processors together, then each embedded server."""
        return {
            "processors": sum(cpu_seconds(proc.pid() or 0) for proc in self.processes),
            **server_cpu(),
        }

    def target(self, n: int) -> tuple[int, bool]:
        """The report of the ``n``-th action, and whether it has a long past.

        Partner and distributor actions by turns; with ``--long``, also fresh and long
        reports by turns, each group's K reports per side in rotation."""
        half = self.reports // 2
        side = 0 if n % 2 == 0 else half
        if not self.long:
            return side + (n // 2) % (half if side == 0 else self.reports - half), False
        long = (n // 2) % 2 == 1
        i = side + (n // 4) % self.long + (self.long if long else 0)
        return i, long

    def long_reports(self) -> list[str]:
        half = self.reports // 2
        return [report_id(side + self.long + k) for side in (0, half) for k in range(self.long)]

    async def seed_past(self, answers: int, history: int) -> None:
        """Give the long reports their past, as the store keeps it (docs/bounded-reports.md):
        three refusals in ``outcomes`` for each applied answer moved to ``answers``, and
        ``history`` entries moved out; the documents say how many moved."""
        at = datetime(2026, 11, 1, tzinfo=UTC)
        for rid in self.long_reports():
            applied = answers // 4
            kept_answers: list[dict[str, Any]] = []
            refusals: list[dict[str, Any]] = []
            for n in range(answers):
                outcome = "applied" if n < applied else "refused"
                entry = OutboxEntry(
                    id=f"{rid}/{'draft-saved' if n < applied else 'action-rejected'}/past-{n}",
                    topic=self.topic("lmp.report-events.v1"),
                    key=rid,
                    value=json.dumps({"id": f"past-{n}", "data": {"report_id": rid}}) + " " * 400,
                )
                decision = Decision(
                    topic="lmp.partner-actions.v1",
                    message_id=f"past-{rid}-{n}",
                    payload_hash="0" * 64,
                    action_type="lmp.partner.draft-saved",
                    outcome=outcome,
                    reason=None if n < applied else "partner LX may not act on this report",
                    decided_at=at,
                    events=[entry],
                )
                kept = OrphanOutcome(
                    key=f"lmp.partner-actions.v1|{decision.message_id}",
                    report_id=rid,
                    decision=decision,
                    at=at,
                )
                (kept_answers if n < applied else refusals).append(
                    kept.model_dump(mode="python", by_alias=True)
                )
            moved = [
                HistoryRecord(
                    key=history_key(rid, seq),
                    report_id=rid,
                    seq=seq,
                    entry=HistoryEntry(
                        at=at, actor_kind="partner", action="lmp.partner.draft-saved"
                    ),
                ).model_dump(mode="python", by_alias=True)
                for seq in range(history)
            ]
            for collection, docs in (
                (self.store.answers, kept_answers),
                (self.store.outcomes, refusals),
                (self.store.history, moved),
            ):
                for start in range(0, len(docs), 1000):
                    await collection.insert_many(docs[start : start + 1000], ordered=False)
            doc = await self.store.reports.find_one({"_id": rid})
            assert doc is not None
            await self.store.reports.update_one(
                {"_id": rid, "version": doc["version"]},
                {
                    "$set": {
                        "decisions_archived": applied,
                        "history": [],
                        "history_archived": history,
                        "version": doc["version"] + 1,
                    }
                },
            )

    async def sizes(self) -> dict[bool, int]:
        """The largest stored document of each group (fresh, long past), in BSON bytes."""
        long = set(self.long_reports())
        half = self.reports // 2
        fresh = {report_id(side + k) for side in (0, half) for k in range(self.long)}
        found = {False: 0, True: 0}
        docs = await self.store.reports.find({"_id": {"$in": sorted(long | fresh)}}).to_list(None)
        for doc in docs:
            size = len(bson.encode(doc))
            found[doc["_id"] in long] = max(found[doc["_id"] in long], size)
        return found

    async def close(self) -> None:
        for proc in self.processes:
            proc.stop()
        await self.producer.stop()
        await self.store.db.client.drop_database(self.database)
        await self.store.close()


async def run_modes(args: argparse.Namespace) -> int:
    """``run`` once per tracing mode (``--tracing``), then the modes side by side."""
    code = 0
    for mode in tracing_modes.modes(args.tracing):
        if args.tracing == "both":
            print(f"--- tracing {mode} ---", flush=True)
        code = max(code, await run(args, tracing_modes.MODES[mode], mode))
    if args.tracing == "both" and len(MEASURED) == 2:
        off, on = MEASURED["off"], MEASURED["on"]
        for p in (50, 95, 99):
            print(
                f"tracing on / off, p{p}: {percentile(on, p) / percentile(off, p):.2f} "
                f"({percentile(off, p):.1f} ms -> {percentile(on, p):.1f} ms)"
            )
        cpu_off, cpu_on = CPU_PER_ACTION["off"], CPU_PER_ACTION["on"]
        print(
            f"tracing on / off, processors' CPU per action: {cpu_on / cpu_off:.2f} "
            f"({cpu_off:.0f} us -> {cpu_on:.0f} us)"
        )
    return code


MEASURED: dict[str, list[float]] = {}
CPU_PER_ACTION: dict[str, float] = {}
"""Microseconds of the processors' CPU per action sent, by tracing mode."""


async def run(
    args: argparse.Namespace, extra_env: dict[str, str] | None = None, mode: str = "off"
) -> int:
    with tempfile.TemporaryDirectory(prefix="lmp-bench-actions-") as tmp:
        home = Path(tmp)
        logs = args.log_dir or home
        logs.mkdir(parents=True, exist_ok=True)
        with servers(home) as (bootstrap, uri):
            bench = Bench(bootstrap, uri, logs, args.reports, args.log_level, args.long, extra_env)
            try:
                started = time.perf_counter()
                await bench.setup()
                print(
                    f"{args.reports} reports open and half submitted in "
                    f"{time.perf_counter() - started:.1f}s"
                )
                if args.long:
                    started = time.perf_counter()
                    await bench.seed_past(args.past, args.past_history)
                    print(
                        f"{2 * args.long} reports given {args.past:,} answers and "
                        f"{args.past_history:,} history entries each in "
                        f"{time.perf_counter() - started:.1f}s"
                    )
                drive = await bench.drive(args.rate, args.warmup + args.seconds)
                sizes = await bench.sizes()
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
    MEASURED[mode] = ms
    sent = len(drive.latencies) + drive.missing
    CPU_PER_ACTION[mode] = drive.cpu["processors"] / sent * 1e6
    print(
        "CPU per action over the whole drive (us): "
        + ", ".join(f"{role} {spent / sent * 1e6:.0f}" for role, spent in drive.cpu.items())
    )
    print(f"over all {len(ms)} measured actions:")
    print(f"  {summary(ms)}")
    met = percentile(ms, 99) <= TARGET_P99_MS and not drive.missing
    print(f"target p99 <= {TARGET_P99_MS} ms: {'met' if met else 'NOT met'}")
    if args.long:
        side_by_side(drive, first_measured, sizes)
    return 0


def side_by_side(drive: Drive, first_measured: int, sizes: dict[bool, int]) -> None:
    """Fresh and long reports' latencies, measured in the same run, one line each."""
    group = {
        long: [
            x.seconds * 1000
            for x in drive.latencies
            if x.action >= first_measured and x.long == long
        ]
        for long in (False, True)
    }
    print("fresh reports against reports with a long past, same run:")
    for long, name in ((False, "fresh"), (True, "long past")):
        if group[long]:
            print(
                f"  {name:10} {len(group[long]):6} actions  {summary(group[long])}  "
                f"largest document {sizes[long]:,} bytes"
            )
    if group[False] and group[True]:
        ratio = percentile(group[True], 99) / percentile(group[False], 99)
        verdict = "met" if ratio <= 1.2 else "NOT met"
        print(f"  long-past p99 / fresh p99 = {ratio:.2f} (target <= 1.20: {verdict})")


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
    parser.add_argument("--rate", type=float, default=400.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured, after warm-up")
    parser.add_argument("--warmup", type=float, default=20.0, help="driven, not counted")
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument(
        "--long", type=int, default=0, help="reports per side with a long past (and as many fresh)"
    )
    parser.add_argument("--past", type=int, default=20_000, help="answers of a long report")
    parser.add_argument("--past-history", type=int, default=5_000, help="its history entries")
    parser.add_argument("--log-dir", type=Path, help="keep the processors' logs here")
    parser.add_argument("--log-level", default="warning", help="the processors' log level")
    tracing_modes.add_flag(parser)
    return asyncio.run(run_modes(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
