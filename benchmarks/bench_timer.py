"""Timer: time to find and auto-submit 1,000 due reports among 100,000.

    python -m benchmarks.bench_timer [--due 1000] [--total 100000] [--small 10000]

Writes reports straight into the database (built by the domain core, so they are
what the processors would have written), a ``--due`` number of them past their
deadline, then times one timer pass (find through the status+deadline index,
auto-submit, write conditionally, publish the events to the real broker). It does
this twice in the same run, among ``--small`` and among ``--total`` reports: the
two times should be about equal, because finding due reports never scans the rest.
Also prints the documents the due query examined (from ``explain``).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from benchmarks.common import servers
from schemas.accounts import PartnerAccount
from schemas.report import ReportStatus
from schemas.usage import UsageReported
from services.adapters.catalogue import Catalogue, ensure_topics
from services.adapters.publisher import AiokafkaProducer, Publisher
from services.adapters.store import Store, connect
from services.domain.usage import UsageRecord, apply_usage, attach_account, new_report
from services.processors.timer import DeadlineTimer
from services.runtime.context import build_runtime
from services.settings import Settings

CYCLE = "2026-10"
OPENED = datetime(2026, 10, 20, tzinfo=UTC)
NOW = datetime(2026, 11, 10, tzinfo=UTC)


def report_document(i: int, due: bool) -> dict[str, Any]:
    partner = f"TP{i:06d}"
    account = PartnerAccount(
        partner_id=partner,
        name=partner,
        distributor_id=f"TD{i % 50}",
        region="EMEA",
        currency="EUR",
        auto_submit_days=5 if due else 30,
    )
    report = new_report(partner, CYCLE, OPENED, f"bench-{i}")
    usage = UsageReported(
        partner_id=partner,
        cycle=CYCLE,
        product_id="PRD-A",
        subscription_id="S1",
        provisioned_units=10,
        used_units=8,
        observed_at=OPENED,
    )
    outcome = apply_usage(report, [UsageRecord(f"u-{i}", usage)], OPENED)
    outcome = attach_account(outcome.report, account, OPENED)
    doc = outcome.report.model_copy(update={"outbox": [], "outbox_since": None}).to_document()
    if not due and i % 3 == 0:
        doc["status"] = ReportStatus.COMPLETED.value
    return doc


async def fill(store: Store, total: int, due: int) -> None:
    every = total // due
    batch: list[dict[str, Any]] = []
    for i in range(total):
        batch.append(report_document(i, due=i % every == 0))
        if len(batch) == 2000:
            await store.reports.insert_many(batch, ordered=False)
            batch = []
    if batch:
        await store.reports.insert_many(batch, ordered=False)


async def one_pass(bootstrap: str, uri: str, total: int, due: int) -> tuple[float, int, int]:
    database = f"bench_timer_{uuid.uuid4().hex[:6]}"
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        MONGODB_URI=uri,
        MONGODB_DATABASE=database,
        topic_namespace=f"bt{uuid.uuid4().hex[:6]}.",
    )
    catalogue = Catalogue.load(*settings.catalogue_args())
    await ensure_topics(catalogue, bootstrap)
    store = connect(settings)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        await store.ensure_indexes()
        started = time.perf_counter()
        await fill(store, total, due)
        print(f"  {total:>7} reports written in {time.perf_counter() - started:.1f}s")
        query = {"status": ReportStatus.MSP_PREPARING.value, "deadline": {"$lte": NOW}}
        explained = await store.reports.find(query).explain()
        examined = int(explained["executionStats"]["totalDocsExamined"])
        wrapped = AiokafkaProducer(producer)
        publisher = Publisher(lambda: wrapped)
        runtime = build_runtime("timer", settings, catalogue, store, publisher, lambda: NOW)
        timer = DeadlineTimer(runtime)
        started = time.perf_counter()
        submitted, _reminded = await timer.tick()
        seconds = time.perf_counter() - started
        left = await store.reports.count_documents(query)
        if left:
            raise RuntimeError(f"{left} due reports were not submitted")
        return seconds, submitted, examined
    finally:
        await producer.stop()
        await store.db.client.drop_database(database)
        await store.close()


async def run(args: argparse.Namespace) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="lmp-bench-timer-") as tmp,
        servers(Path(tmp)) as (bootstrap, uri),
    ):
        results = {}
        for total in (args.small, args.total):
            print(f"{args.due} due among {total}:")
            results[total] = await one_pass(bootstrap, uri, total, args.due)
    print()
    print(f"{'reports':>8} {'due':>6} {'submitted':>10} {'examined':>9} {'pass':>9}")
    for total, (seconds, submitted, examined) in results.items():
        print(f"{total:>8} {args.due:>6} {submitted:>10} {examined:>9} {seconds:8.2f}s")
    small, large = results[args.small][0], results[args.total][0]
    print(f"time among {args.total} / time among {args.small}: {large / small:.2f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
