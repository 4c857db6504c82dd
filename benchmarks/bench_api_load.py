# Over 300 lines: one benchmark (data, load, measure, report) read as one script.
"""Read API under concurrent load: each worker count at each concurrency, on the same reports.

Seeds reports on the embedded servers (or ``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI``),
then for each worker count starts ``lmp-billing api --workers N`` as its own processes,
warms it up and, for each concurrency, fires the same fixed mix of requests: one billing
report; the partner's view (its list of usage reports, one usage report); a distributor's
list by cycle; operations' list by status sorted by last update (first pages, and later
pages reached by the cursor the API gives, or by page number from an API without one);
one report as CSV and a distributor's cycle exported as CSV. Prints, per concurrency and
side by side for each worker count: requests/s, p50/p95/p99 latency, errors, CPU per
request of the API processes, of the database server and of this client, and how the
requests spread over the workers; then p50/p95/p99 per kind of request, the ratios, and
whether the targets are met (2 workers: at 20 concurrent >= 400 requests/s and p95 <= 100
ms; at 50 concurrent p95 <= 250 ms).

    python -m benchmarks.bench_api_load [--reports 20000] [--requests 2000]
                                        [--concurrency 20,50] [--workers 1,2]
                                        [--per-kind] [--without operations]
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
from benchmarks.common import cpu_seconds, servers
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

MIX = [
    ("one report", 25),
    ("partner view: list", 10),
    ("partner view: one report", 10),
    ("distributor list by cycle", 30),
    ("operations list by status", 3),
    ("operations list, later page", 2),
    ("one report CSV", 10),
    ("cycle CSV export", 10),
]
"""Kinds of request and their weights."""

DISTRIBUTOR_QUERIES: list[dict[str, str]] = [
    {},
    {"status": "automatic_submission_penalties"},
    {"sort": "deadline", "page": "2", "page_size": "10"},
]
"""A distributor's list queries, each with a cycle; a quarter is one more."""

OPERATIONS_STATUSES = [
    "under_review",
    "manual_submission",
    "automatic_submission_penalties",
    "rejected",
    "returned_by_trendmicro",
    "completed",
]
LATER_PAGES = range(2, 7)

TARGETS = {20: (400.0, 100.0), 50: (None, 250.0)}
"""At each concurrency with 2 workers: (requests/s at least, p95 in ms at most)."""
TARGET_WORKERS = 2


@dataclass(frozen=True)
class Call:
    kind: str
    path: str
    key: str
    params: dict[str, str] = field(default_factory=dict)
    later: int = 0
    """A later page of a list: page ``later``, asked for by the cursor the page before it
    gives (resolved once the API runs), or by number from an API that gives none."""


@dataclass
class Keys:
    distributors: dict[str, str]
    partners: dict[str, str]
    operations: str


@dataclass
class Outcome:
    workers: int
    concurrency: int
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


def plan(
    keys: Keys,
    partners_of: dict[str, list[str]],
    count: int,
    seed: int,
    without: tuple[str, ...] = (),
) -> list[Call]:
    """``count`` requests drawn from ``MIX`` (the same for every worker count), but for
    the kinds whose name starts with one of ``without``."""
    rng = random.Random(seed)
    mix = [(kind, weight) for kind, weight in MIX if not (without and kind.startswith(without))]
    kinds = [kind for kind, _ in mix]
    weights = [weight for _, weight in mix]
    calls = []
    for kind in rng.choices(kinds, weights, k=count):
        distributor = rng.choice(sorted(keys.distributors))
        d_key = keys.distributors[distributor]
        cycle = rng.choice(CYCLES)
        report_id = f"{rng.choice(partners_of[distributor])}:{cycle}"
        partner = rng.choice(sorted(keys.partners))
        p_key = keys.partners[partner]
        by_update = {"status": rng.choice(OPERATIONS_STATUSES), "sort": "-updated_at"}
        if kind == "distributor list by cycle":
            call = Call(kind, "/v1/billing-reports", d_key, _distributor_query(rng, cycle))
        elif kind == "operations list by status":
            call = Call(kind, "/v1/billing-reports", keys.operations, by_update)
        elif kind == "operations list, later page":
            later = rng.choice(LATER_PAGES)
            call = Call(kind, "/v1/billing-reports", keys.operations, by_update, later)
        elif kind == "partner view: list":
            call = Call(kind, "/v1/usage-reports", p_key)
        elif kind == "one report":
            call = Call(kind, f"/v1/billing-reports/{report_id}", d_key, {"tz": "Europe/Paris"})
        elif kind == "partner view: one report":
            call = Call(kind, f"/v1/usage-reports/{partner}:{cycle}", p_key)
        elif kind == "one report CSV":
            call = Call(kind, f"/v1/billing-reports/{report_id}.csv", d_key)
        else:
            call = Call(kind, "/v1/billing-reports.csv", d_key, {"cycle": cycle})
        calls.append(call)
    return calls


def _distributor_query(rng: random.Random, cycle: str) -> dict[str, str]:
    """One of a distributor's list queries by cycle: a cycle, or the quarter it ends."""
    if rng.random() < 0.25:
        month = max(int(cycle[5:]), 3)
        return {"cycle_from": f"2026-{month - 2:02d}", "cycle_to": f"2026-{month:02d}"}
    return {"cycle": cycle, **rng.choice(DISTRIBUTOR_QUERIES)}


async def resolve(base: str, calls: list[Call]) -> tuple[list[Call], str]:
    """Later pages asked for by cursor: the page before each is read once (untimed) for
    its ``next_cursor``; an API that gives none is asked for the page by number."""

    def which(call: Call) -> tuple[str, tuple[tuple[str, str], ...], int]:
        return call.key, tuple(sorted(call.params.items())), call.later

    asked: dict[tuple[str, tuple[tuple[str, str], ...], int], dict[str, str]] = {}
    async with ClientSession() as client:
        for key, params, later in sorted({which(c) for c in calls if c.later}):
            before = {**dict(params), "page": str(later - 1)}
            headers = {"Authorization": f"Bearer {key}"}
            url = base + "/v1/billing-reports"
            async with client.get(url, params=before, headers=headers) as resp:
                cursor = (await resp.json()).get("next_cursor")
            where = {"cursor": cursor} if cursor else {"page": str(later)}
            asked[(key, params, later)] = {**dict(params), **where}
    resolved = [Call(c.kind, c.path, c.key, asked[which(c)]) if c.later else c for c in calls]
    by_cursor = sum("cursor" in params for params in asked.values())
    return resolved, f"{by_cursor} of {len(asked)} later pages asked for by cursor"


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


@dataclass
class KindCost:
    """One kind of request fired alone: wall time and CPU per request."""

    kind: str
    requests: int
    seconds: float
    api_cpu: float
    database_cpu: float | None


def run_one(
    workers: int,
    env: dict[str, str],
    tmp: Path,
    plans: tuple[list[Call], list[Call]],
    concurrencies: list[int],
    database_pid: int | None,
    costs: list[KindCost] | None = None,
) -> list[Outcome]:
    """One API of ``workers`` processes: warmed up, then the calls at each concurrency;
    with ``costs``, then each kind of call alone (what it costs the API and the database)."""
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
    outcomes = []
    try:
        asyncio.run(wait_ready(base, api, seconds=60))
        calls, how = asyncio.run(resolve(base, plans[0]))
        warm_up, _ = asyncio.run(resolve(base, plans[1]))
        print(f"{workers} worker(s): {how}")
        asyncio.run(fire(base, warm_up, max(concurrencies)))
        pid = api.pid()
        assert pid is not None
        processes = family(pid)
        for concurrency in concurrencies:
            api_before = sum(cpu_seconds(p) for p in processes)
            db_before = cpu_seconds(database_pid) if database_pid else 0.0
            client_before = time.process_time()
            seconds, latencies, errors = asyncio.run(fire(base, calls, concurrency))
            client_cpu = time.process_time() - client_before
            api_cpu = sum(cpu_seconds(p) for p in processes) - api_before
            database_cpu = cpu_seconds(database_pid) - db_before if database_pid else None
            per_worker = asyncio.run(scrape_workers(base))
            outcomes.append(
                Outcome(
                    workers,
                    concurrency,
                    seconds,
                    latencies,
                    errors,
                    api_cpu,
                    database_cpu,
                    client_cpu,
                    per_worker,
                )
            )
        if costs is not None:
            kinds = {call.kind for call in calls}
            costs += [
                kind_cost(base, calls, kind, processes, database_pid)
                for kind, _ in MIX
                if kind in kinds
            ]
    finally:
        api.stop()
    return outcomes


def kind_cost(
    base: str, calls: list[Call], kind: str, processes: list[int], database_pid: int | None
) -> KindCost:
    """The calls of one kind (at most 200), 10 at a time, alone."""
    alone = [c for c in calls if c.kind == kind][:200]
    api_before = sum(cpu_seconds(p) for p in processes)
    db_before = cpu_seconds(database_pid) if database_pid else 0.0
    seconds, _, _ = asyncio.run(fire(base, alone, 10))
    api_cpu = sum(cpu_seconds(p) for p in processes) - api_before
    database_cpu = cpu_seconds(database_pid) - db_before if database_pid else None
    return KindCost(kind, len(alone), seconds, api_cpu, database_cpu)


def report_costs(costs: list[KindCost]) -> None:
    print("\neach kind alone, 10 concurrent: CPU per request (ms) of the API and the database")
    print(f"  {'kind':28} {'count':>6} {'requests/s':>11} {'API':>8} {'database':>9}")
    for c in costs:
        database = (
            f"{c.database_cpu / c.requests * 1000:9.2f}" if c.database_cpu is not None else ""
        )
        print(
            f"  {c.kind:28} {c.requests:>6} {c.requests / c.seconds:>11,.0f}"
            f" {c.api_cpu / c.requests * 1000:>8.2f} {database}"
        )


def percentile(times: list[float], q: int) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[q - 1]


def report(outcomes: list[Outcome], requests: int) -> None:
    """One concurrency's runs, a column per worker count."""
    names = [f"{o.workers} worker{'s' if o.workers > 1 else ''}" for o in outcomes]
    ratio = len(outcomes) == 2
    print(f"\n{requests:,} requests at concurrency {outcomes[0].concurrency}:")
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
    print("\nby kind of request, p50 / p95 / p99 (ms):")
    print(f"  {'kind':28} {'count':>6}" + "".join(f"{n:>26}" for n in names))
    for kind, _ in MIX:
        cells = []
        for o in outcomes:
            times = o.latencies.get(kind, [])
            cells.append(
                " / ".join(f"{percentile(times, q):6.1f}" for q in (50, 95, 99))
                if len(times) > 1
                else "-"
            )
        count = len(outcomes[0].latencies.get(kind, []))
        print(f"  {kind:28} {count:>6}" + "".join(f"{c:>26}" for c in cells))
    for o in outcomes:
        for kind, n in Counter(o.errors).most_common(5):
            print(f"  error with {o.workers} worker(s), {n} times: {kind}")


def targets(outcomes: list[Outcome], requests: int) -> None:
    """Whether each target is met, with the figures it was judged on."""
    print(f"\ntargets ({TARGET_WORKERS} workers):")
    for o in outcomes:
        target = TARGETS.get(o.concurrency)
        if o.workers != TARGET_WORKERS or target is None:
            continue
        rate, p95 = requests / o.seconds, percentile(o.all_latencies, 95)
        least, most = target
        wanted = ([f">= {least:.0f} requests/s"] if least else []) + [f"p95 <= {most:.0f} ms"]
        met = (least is None or rate >= least) and p95 <= most and not o.errors
        print(
            f"  {o.concurrency} concurrent, {' and '.join(wanted)}: "
            f"{'met' if met else 'NOT met'} ({rate:,.0f} requests/s, p95 {p95:.1f} ms, "
            f"{len(o.errors)} errors)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", default="20,50", help="concurrencies, in order")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, in order")
    parser.add_argument(
        "--per-kind",
        action="store_true",
        help="then fire each kind of request alone (last worker count): its CPU per request",
    )
    parser.add_argument(
        "--without",
        default="",
        help="leave out the kinds whose names start so (comma-separated, e.g. 'operations')",
    )
    args = parser.parse_args(argv)
    without = tuple(k for k in args.without.split(",") if k)
    counts = [int(n) for n in args.workers.split(",")]
    concurrencies = [int(n) for n in args.concurrency.split(",")]
    with (
        tempfile.TemporaryDirectory(prefix="lmp-bench-api-load-") as tmp,
        servers(Path(tmp)) as (bootstrap, uri),
    ):
        database = f"lmp_bench_api_load_{os.getpid()}"
        settings = Settings(
            KAFKA_BOOTSTRAP_SERVERS=bootstrap, MONGODB_URI=uri, MONGODB_DATABASE=database
        )
        keys, partners_of = asyncio.run(seed(settings, args.reports))
        plans = (
            plan(keys, partners_of, args.requests, seed=1, without=without),
            plan(keys, partners_of, WARM_UP, seed=2, without=without),
        )
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
        costs: list[KindCost] = []
        runs = [
            outcome
            for n in counts
            for outcome in run_one(
                n,
                env,
                Path(tmp),
                plans,
                concurrencies,
                database_pid,
                costs if args.per_kind and n == counts[-1] else None,
            )
        ]
        for concurrency in concurrencies:
            report([o for o in runs if o.concurrency == concurrency], args.requests)
        if costs:
            report_costs(costs)
        targets(runs, args.requests)
        print(f"(load average {os.getloadavg()[0]:.1f} at the end)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
