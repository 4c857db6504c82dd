# Over 300 lines: one benchmark (data, load, measure, report) read as one script.
"""Read API under concurrent load: one worker, then two, in one run, on the same reports.

Seeds reports on the embedded servers (or ``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI``),
then for each worker count starts ``lmp-billing api --workers N`` as its own processes,
warms it up and fires the same fixed mix of requests at a fixed concurrency: distributors'
and operations' list queries, partners' usage-report lists, one-report reads (billing and
usage), one report as CSV and a distributor's cycle exported as CSV. Prints, side by side
for each worker count: requests/s, p50/p95/p99 latency, errors, CPU per request of the API
processes, of the database server and of this client, and how the requests spread over
the workers; then p50/p95 per kind of request, and the ratios.

    python -m benchmarks.bench_api_load [--reports 20000] [--requests 2000] [--concurrency 20]
                                        [--workers 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector

from benchmarks.bench_api import wait_ready
from benchmarks.common import servers
from schemas.accounts import PartnerAccount
from schemas.api import Role
from services.adapters.store import connect
from services.api.auth import new_key
from services.settings import PROJECT_ROOT, Settings
from tests.report_data import bulk
from tooling.infra.process import ManagedProcess, free_port

CYCLES = [f"2026-{m:02d}" for m in range(1, 13)]
DISTRIBUTORS = 50
READING_DISTRIBUTORS = 10
READING_PARTNERS = 20
WARM_UP = 200
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

MIX = [
    ("list", 30),
    ("list (operations)", 5),
    ("usage list", 10),
    ("one report", 25),
    ("one usage report", 10),
    ("one report CSV", 10),
    ("cycle CSV export", 10),
]
"""Kinds of request and their weights."""

DISTRIBUTOR_QUERIES: list[dict[str, str]] = [
    {"cycle": "2026-10"},
    {"cycle": "2026-10", "status": "automatic_submission_penalties"},
    {"cycle_from": "2026-07", "cycle_to": "2026-09"},
    {"status": "rejected"},
    {"partner": "Cloud"},
    {"cycle": "2026-06", "sort": "deadline", "page": "2", "page_size": "10"},
]


@dataclass(frozen=True)
class Call:
    kind: str
    path: str
    key: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Keys:
    distributors: dict[str, str]
    partners: dict[str, str]
    operations: str


@dataclass
class Outcome:
    workers: int
    seconds: float
    latencies: dict[str, list[float]]
    errors: list[str]
    api_cpu: float
    database_cpu: float | None
    client_cpu: float
    per_worker: list[int]

    @property
    def all_latencies(self) -> list[float]:
        return [t for times in self.latencies.values() for t in times]


async def seed(settings: Settings, count: int) -> tuple[Keys, dict[str, list[str]]]:
    """The reports and partners, one key per reader; each distributor's partners."""
    store = connect(settings)
    await store.ensure_indexes()
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    partners: dict[str, dict[str, Any]] = {}
    now = datetime.now(UTC)
    for report in bulk(count, DISTRIBUTORS, CYCLES):
        batch.append(report.to_document())
        account = PartnerAccount(
            partner_id=report.partner_id,
            name=report.partner_name or report.partner_id,
            distributor_id=report.distributor_id or "",
            region="EU",
            currency="EUR",
        )
        partners.setdefault(
            report.partner_id,
            {"_id": report.partner_id, **account.model_dump(mode="json"), "updated_at": now},
        )
        if len(batch) == 5000:
            await store.reports.insert_many(batch, ordered=False)
            batch = []
    if batch:
        await store.reports.insert_many(batch, ordered=False)
    await store.partners.insert_many(list(partners.values()), ordered=False)
    print(
        f"seeded {count:,} reports of {len(partners):,} partners, {DISTRIBUTORS} distributors, "
        f"{len(CYCLES)} cycles in {time.perf_counter() - started:.1f} s"
    )
    by_distributor: dict[str, list[str]] = defaultdict(list)
    for partner in partners.values():
        by_distributor[partner["distributor_id"]].append(partner["_id"])
    readers = sorted(by_distributor)[:READING_DISTRIBUTORS]
    keys = Keys({}, {}, "")
    for distributor in readers:
        keys.distributors[distributor] = await _key(store, Role.DISTRIBUTOR, distributor, now)
    for partner_id in sorted(p for d in readers for p in by_distributor[d])[:READING_PARTNERS]:
        keys.partners[partner_id] = await _key(store, Role.PARTNER, partner_id, now)
    keys.operations = await _key(store, Role.OPERATIONS, None, now)
    await store.close()
    return keys, {d: by_distributor[d] for d in readers}


async def _key(store: Any, role: Role, account: str | None, now: datetime) -> str:
    plaintext, stored = new_key(role, account, "bench", now)
    await store.save_api_key(stored)
    return plaintext


def plan(keys: Keys, partners_of: dict[str, list[str]], count: int, seed: int) -> list[Call]:
    """``count`` requests drawn from ``MIX`` (the same for every worker count)."""
    rng = random.Random(seed)
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    calls = []
    for kind in rng.choices(kinds, weights, k=count):
        distributor = rng.choice(sorted(keys.distributors))
        d_key = keys.distributors[distributor]
        report_id = f"{rng.choice(partners_of[distributor])}:{rng.choice(CYCLES)}"
        partner = rng.choice(sorted(keys.partners))
        p_key = keys.partners[partner]
        if kind == "list":
            call = Call(kind, "/v1/billing-reports", d_key, rng.choice(DISTRIBUTOR_QUERIES))
        elif kind == "list (operations)":
            query = {"cycle": rng.choice(CYCLES), "status": "under_review", "page": "2"}
            call = Call(kind, "/v1/billing-reports", keys.operations, query)
        elif kind == "usage list":
            call = Call(kind, "/v1/usage-reports", p_key)
        elif kind == "one report":
            call = Call(kind, f"/v1/billing-reports/{report_id}", d_key, {"tz": "Europe/Paris"})
        elif kind == "one usage report":
            call = Call(kind, f"/v1/usage-reports/{partner}:{rng.choice(CYCLES)}", p_key)
        elif kind == "one report CSV":
            call = Call(kind, f"/v1/billing-reports/{report_id}.csv", d_key)
        else:
            call = Call(kind, "/v1/billing-reports.csv", d_key, {"cycle": rng.choice(CYCLES)})
        calls.append(call)
    return calls


async def fire(
    base: str, calls: list[Call], concurrency: int
) -> tuple[float, dict[str, list[float]], list[str]]:
    """Every call, ``concurrency`` at a time over kept-alive connections: wall time,
    latencies (ms) by kind, errors."""
    queue: asyncio.Queue[Call] = asyncio.Queue()
    for call in calls:
        queue.put_nowait(call)
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    connector = TCPConnector(limit=concurrency)
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=60)) as client:

        async def caller() -> None:
            while not queue.empty():
                call = queue.get_nowait()
                headers = {"Authorization": f"Bearer {call.key}"}
                started = time.perf_counter()
                try:
                    url = base + call.path
                    async with client.get(url, params=call.params, headers=headers) as resp:
                        await resp.read()
                        if resp.status != 200:
                            errors.append(f"{call.kind}: HTTP {resp.status}")
                except Exception as exc:
                    errors.append(f"{call.kind}: {exc!r}")
                latencies[call.kind].append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, errors


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def family(pid: int) -> list[int]:
    """A process and its children (the API's parent and its workers)."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(entry.name))
    return pids


async def scrape_workers(base: str) -> list[int]:
    async with ClientSession() as client, client.get(f"{base}/metrics") as resp:
        text = await resp.text()
    counts = re.findall(r'^lmp_api_worker_requests_total\{pid="\d+"\} (\S+)$', text, re.M)
    return sorted((int(float(n)) for n in counts), reverse=True)


def run_one(
    workers: int,
    env: dict[str, str],
    tmp: Path,
    calls: list[Call],
    warm_up: list[Call],
    concurrency: int,
    database_pid: int | None,
) -> Outcome:
    port = free_port()
    api = ManagedProcess(
        name=f"api-{workers}",
        argv=[
            sys.executable,
            "-m",
            "services.cli",
            "api",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        log_path=tmp / f"api-{workers}.log",
        pid_path=tmp / f"api-{workers}.pid",
        env=env,
    )
    api.start()
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_ready(base, api, seconds=60))
        asyncio.run(fire(base, warm_up, concurrency))
        pid = api.pid()
        assert pid is not None
        processes = family(pid)
        api_before = sum(cpu_seconds(p) for p in processes)
        db_before = cpu_seconds(database_pid) if database_pid else 0.0
        client_before = time.process_time()
        seconds, latencies, errors = asyncio.run(fire(base, calls, concurrency))
        client_cpu = time.process_time() - client_before
        api_cpu = sum(cpu_seconds(p) for p in processes) - api_before
        database_cpu = cpu_seconds(database_pid) - db_before if database_pid else None
        per_worker = asyncio.run(scrape_workers(base))
    finally:
        api.stop()
    return Outcome(
        workers, seconds, latencies, errors, api_cpu, database_cpu, client_cpu, per_worker
    )


def percentile(times: list[float], q: int) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[q - 1]


def report(outcomes: list[Outcome], requests: int, concurrency: int) -> None:
    names = [f"{o.workers} worker{'s' if o.workers > 1 else ''}" for o in outcomes]
    ratio = len(outcomes) == 2
    print(f"\n{requests:,} requests at concurrency {concurrency}:")
    print(f"  {'':34}" + "".join(f"{n:>12}" for n in names) + (f"{'ratio':>9}" if ratio else ""))

    def row(label: str, values: list[float], fmt: str) -> None:
        line = f"  {label:34}" + "".join(f"{v:>12{fmt}}" for v in values)
        if ratio and values[0]:
            line += f"{values[1] / values[0]:>9.2f}"
        print(line)

    row("requests/s", [requests / o.seconds for o in outcomes], ",.0f")
    for q in (50, 95, 99):
        row(f"p{q} latency (ms)", [percentile(o.all_latencies, q) for o in outcomes], ".1f")
    print(f"  {'errors':34}" + "".join(f"{len(o.errors):>12}" for o in outcomes))
    row("API CPU per request (ms)", [o.api_cpu / requests * 1000 for o in outcomes], ".2f")
    if all(o.database_cpu is not None for o in outcomes):
        row(
            "database CPU per request (ms)",
            [(o.database_cpu or 0) / requests * 1000 for o in outcomes],
            ".2f",
        )
    row("client CPU per request (ms)", [o.client_cpu / requests * 1000 for o in outcomes], ".2f")
    spread = ["/".join(str(n) for n in o.per_worker) or "?" for o in outcomes]
    print(f"  {'requests per worker (all so far)':34}" + "".join(f"{s:>12}" for s in spread))
    print("\nby kind of request, p50 / p95 (ms):")
    print(f"  {'kind':20} {'count':>6}" + "".join(f"{n:>18}" for n in names))
    for kind, _ in MIX:
        cells = []
        for o in outcomes:
            times = o.latencies.get(kind, [])
            cells.append(
                f"{statistics.median(times):7.1f} / {percentile(times, 95):6.1f}"
                if len(times) > 1
                else "-"
            )
        count = len(outcomes[0].latencies.get(kind, []))
        print(f"  {kind:20} {count:>6}" + "".join(f"{c:>18}" for c in cells))
    for o in outcomes:
        for kind, n in Counter(o.errors).most_common(5):
            print(f"  error with {o.workers} worker(s), {n} times: {kind}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, in order")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    with (
        tempfile.TemporaryDirectory(prefix="lmp-bench-api-load-") as tmp,
        servers(Path(tmp)) as (bootstrap, uri),
    ):
        database = f"lmp_bench_api_load_{os.getpid()}"
        settings = Settings(
            KAFKA_BOOTSTRAP_SERVERS=bootstrap, MONGODB_URI=uri, MONGODB_DATABASE=database
        )
        keys, partners_of = asyncio.run(seed(settings, args.reports))
        calls = plan(keys, partners_of, args.requests, seed=1)
        warm_up = plan(keys, partners_of, WARM_UP, seed=2)
        pid_file = Path(tmp) / "mongo" / "secantusd.pid"
        database_pid = int(pid_file.read_text()) if pid_file.exists() else None
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "MONGODB_URI": uri,
            "MONGODB_DATABASE": database,
            "PYTHONPATH": str(PROJECT_ROOT),
            "LMP_LOG_LEVEL": "warning",
        }
        print(
            f"at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
            f"(load average {os.getloadavg()[0]:.1f}); warm-up of {WARM_UP} requests each"
        )
        outcomes = [
            run_one(n, env, Path(tmp), calls, warm_up, args.concurrency, database_pid)
            for n in counts
        ]
        report(outcomes, args.requests, args.concurrency)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
