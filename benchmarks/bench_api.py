"""Read API with 100,000 reports: list-query latency and a streamed CSV export's memory.

The API runs as its own process (``lmp-billing api``) on the embedded servers (or
``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI``). Each list query is first explained by the
database (documents examined, plan) and then timed over HTTP with a distributor's or
operations' key. Then every report is exported as CSV while the server's resident
memory is sampled. Prints p50/p95 per query, the overall p95 (target <= 100 ms) and the
server's memory before, during and after the export.

    python -m benchmarks.bench_api [--reports 100000] [--repeat 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout

from benchmarks.common import servers
from schemas.accounts import PartnerAccount
from schemas.api import ReportQuery, Role
from services.adapters.store import ReportScope, connect, report_filter
from services.api.auth import new_key
from services.api.directory import PartnerDirectory
from services.settings import PROJECT_ROOT, Settings
from tests.report_data import bulk
from tooling.infra.process import ManagedProcess, free_port, tail

CYCLES = [f"2026-{m:02d}" for m in range(1, 13)]
DISTRIBUTORS = 50
DISTRIBUTOR = "D007"

QUERIES: list[tuple[str, str, dict[str, str]]] = [
    ("cycle", "distributor", {"cycle": "2026-10"}),
    (
        "cycle + under review with penalties",
        "distributor",
        {"cycle": "2026-10", "status": "automatic_submission_penalties"},
    ),
    ("cycle range (quarter)", "distributor", {"cycle_from": "2026-07", "cycle_to": "2026-09"}),
    ("status over all cycles", "distributor", {"status": "rejected"}),
    ("partner search", "distributor", {"partner": "0012"}),
    (
        "cycle, sorted by deadline, page 3",
        "distributor",
        {"cycle": "2026-10", "sort": "deadline", "page": "3", "page_size": "10"},
    ),
    ("ops: cycle + status", "operations", {"cycle": "2026-10", "status": "under_review"}),
    ("ops: cycle, page 20", "operations", {"cycle": "2026-06", "page": "20"}),
    ("ops: partner search", "operations", {"partner": "partner 00042"}),
]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def seed(settings: Settings, count: int) -> dict[str, str]:
    store = connect(settings)
    await store.ensure_indexes()
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    partners: dict[str, dict[str, Any]] = {}
    for report in bulk(count, DISTRIBUTORS, CYCLES):
        batch.append(report.to_document())
        partners.setdefault(
            report.partner_id,
            {
                "_id": report.partner_id,
                **PartnerAccount(
                    partner_id=report.partner_id,
                    name=report.partner_name or report.partner_id,
                    distributor_id=report.distributor_id or "",
                    region="EU",
                    currency="EUR",
                ).model_dump(mode="json"),
                "updated_at": datetime.now(UTC),
            },
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
    keys = {}
    now = datetime.now(UTC)
    for role, account in ((Role.DISTRIBUTOR, DISTRIBUTOR), (Role.OPERATIONS, None)):
        plaintext, stored = new_key(role, account, "bench", now)
        await store.save_api_key(stored)
        keys[role.value] = plaintext
    await explain(store)
    await store.close()
    return keys


async def explain(store: Any) -> None:
    """What the database does for each query's filter: documents examined, index or scan."""
    print("\nquery plans (documents returned / examined, plan):")
    for label, role, params in QUERIES:
        query = ReportQuery.model_validate(
            {k: [v] if k == "status" else v for k, v in params.items()}
        )
        scope = ReportScope(distributor_id=DISTRIBUTOR if role == "distributor" else None)
        partner_ids = None
        if query.partner_search:
            directory = PartnerDirectory(store.partner_directory)
            partner_ids = await directory.matching(query.partner_search, scope.distributor_id)
        criteria = report_filter(query, scope, partner_ids)
        explained = await store.reports.find(criteria).explain()
        stats = explained["executionStats"]
        plan = explained["queryPlanner"]["winningPlan"]
        stages = str(plan)
        used = "IXSCAN" in stages
        print(
            f"  {label:38} {stats['nReturned']:>6} / {stats['totalDocsExamined']:<7} "
            f"{'index' if used else 'SCAN'}"
        )


async def measure(base: str, keys: dict[str, str], repeat: int, api_pid: int) -> None:
    timeout = ClientTimeout(total=600)
    async with ClientSession(timeout=timeout) as client:
        all_times: list[float] = []
        print(f"\nlist queries over HTTP, {repeat} times each (ms):")
        print(f"  {'query':38} {'rows':>5} {'total':>7} {'p50':>7} {'p95':>7}")
        for label, role, params in QUERIES:
            headers = {"Authorization": f"Bearer {keys[role]}"}
            times = []
            body: dict[str, Any] = {}
            for _ in range(repeat):
                started = time.perf_counter()
                async with client.get(
                    f"{base}/v1/billing-reports", params=params, headers=headers
                ) as resp:
                    body = await resp.json()
                    if resp.status != 200:
                        raise SystemExit(f"{label}: HTTP {resp.status}: {body}")
                times.append((time.perf_counter() - started) * 1000)
            all_times += times
            p95 = statistics.quantiles(times, n=20)[18]
            print(
                f"  {label:38} {len(body['items']):>5} {body['total']:>7} "
                f"{statistics.median(times):7.1f} {p95:7.1f}"
            )
        overall = statistics.quantiles(all_times, n=20)[18]
        print(f"  overall p95: {overall:.1f} ms (target <= 100 ms)")

        headers = {"Authorization": f"Bearer {keys['operations']}"}
        before = rss_mib(api_pid)
        peak = before
        rows = size = 0
        started = time.perf_counter()
        async with client.get(f"{base}/v1/billing-reports.csv", headers=headers) as resp:
            async for chunk in resp.content.iter_chunked(64 * 1024):
                size += len(chunk)
                rows += chunk.count(b"\n")
                peak = max(peak, rss_mib(api_pid))
        seconds = time.perf_counter() - started
        after = rss_mib(api_pid)
        print(
            f"\nCSV export of every report: {rows - 1:,} rows, {size / 2**20:.1f} MiB in "
            f"{seconds:.1f} s ({(rows - 1) / seconds:,.0f} rows/s)"
        )
        print(
            f"  API server resident memory: before {before:.0f} MiB, peak during {peak:.0f} MiB "
            f"(+{peak - before:.0f}), after {after:.0f} MiB"
        )


async def wait_ready(base: str, proc: ManagedProcess, seconds: int = 30) -> None:
    """Until the API's /ready answers 200; exits with the API's last log lines if it dies."""
    async with ClientSession() as client:
        for _ in range(seconds * 10):
            try:
                async with client.get(f"{base}/ready") as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if not proc.running():
                raise SystemExit(f"the API exited:\n{tail(proc.log_path, 30)}")
            await asyncio.sleep(0.1)
    raise SystemExit(f"the API did not become ready in {seconds} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="lmp-bench-api-") as tmp,
        servers(Path(tmp)) as (
            bootstrap,
            uri,
        ),
    ):
        database = f"lmp_bench_api_{os.getpid()}"
        settings = Settings(
            KAFKA_BOOTSTRAP_SERVERS=bootstrap, MONGODB_URI=uri, MONGODB_DATABASE=database
        )
        keys = asyncio.run(seed(settings, args.reports))
        port = free_port()
        api = ManagedProcess(
            name="api",
            argv=[sys.executable, "-m", "services.cli", "api", "--port", str(port)],
            log_path=Path(tmp) / "api.log",
            pid_path=Path(tmp) / "api.pid",
            env={
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "MONGODB_URI": uri,
                "MONGODB_DATABASE": database,
                "PYTHONPATH": str(PROJECT_ROOT),
                "LMP_LOG_LEVEL": "warning",
            },
        )
        api.start()
        base = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(wait_ready(base, api))
            pid = api.pid()
            assert pid is not None
            asyncio.run(measure(base, keys, args.repeat, pid))
        finally:
            api.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
