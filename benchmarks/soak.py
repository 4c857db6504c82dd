# Over 300 lines: one benchmark (start, load, kill, sample, account, judge) read as one script.
"""Soak: an hour at steady load with a processor killed every ten minutes (issue 18).

    python -m benchmarks.soak [--minutes 60] [--usage-rate 500] [--action-rate 50]
                              [--api-rate 20] [--kill-every 10] [--sample-every 30]
                              [--warmup MINUTES] [--out .lmp/soak]

Starts the servers (embedded unless KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI), the usage,
accounts, partner-actions and distributor-actions processors (static members,
``LMP_INSTANCE_ID``) and the read API (one worker), each its own process; opens
``--reports`` reports (half with their partner, half submitted), then for ``--minutes``
publishes, on absolute schedules: usage snapshots of ``--usage-partners`` partners
(rising peaks, 2 % exact copies), draft-saved actions of partners and distributors (one
in twenty refused), account updates, and reads of the API (one report, lists). Every
``--kill-every`` minutes one processor, by turns, is killed (SIGKILL) and started again
at once; how long its group takes to be back to lag 0 is measured from the kill. Every
``--sample-every`` seconds it writes each process's RSS, each group's lag, the outbox
backlog and the database's size to ``soak.csv``.

At the end: the load stops, the lag and the outbox drain, and every message is
accounted for (``benchmarks/soak_ledger.py``); ``soak.png`` plots the series and
``verdict.md`` says PASS or FAIL. Pass: RSS of every lmp-billing process incarnation
grows at most 10 % after its warm-up (default a third of the run; a restarted process
warms up again), its group's lag is back to 0 within 30 s of each kill, nothing lost
or contradictory. Exit status 1 on FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout
from aiokafka import AIOKafkaProducer

from benchmarks.bench_actions import PROCESSORS
from benchmarks.bench_api import wait_ready
from benchmarks.common import servers
from benchmarks.soak_ledger import (
    AccountsSent,
    ActionsSent,
    ApiReads,
    UsageSent,
    account_for_actions,
    published,
    recorded_answers,
    report_id,
)
from benchmarks.soak_probes import (
    BEFORE_KILL_SECONDS,
    LagProbe,
    database_rows,
    outbox_backlog,
    rss_mib,
)
from benchmarks.soak_support import CsvLog, Row, counts_line, plot, verdict
from services.adapters.catalogue import Catalogue, ensure_topics
from services.adapters.store import connect
from services.api.auth import new_key
from services.settings import PROJECT_ROOT, Settings
from tests.faults.ledger import OUTBOUND, Counts
from tooling.infra.process import ManagedProcess, free_port, stop_all, tail

ROTATION = ("usage", "partner-actions", "distributor-actions", "accounts")
TICK = 0.1
DRAIN_SECONDS = 180.0
SETUP_SECONDS = 300.0
RECOVERY_BOUND_S = 120.0
"""How long a restarted group is watched; past it, its recovery is "not within the bound"."""


class Soak:
    def __init__(self, args: argparse.Namespace, bootstrap: str, uri: str, home: Path) -> None:
        self.args = args
        self.bootstrap = bootstrap
        self.home = home
        self.seconds = args.minutes * 60
        self.cycle = datetime.now(UTC).strftime("%Y-%m")
        namespace = f"soak{uuid.uuid4().hex[:6]}."
        self.prefix = namespace.rstrip(".")
        self.database = f"lmp_soak_{uuid.uuid4().hex[:6]}"
        settings = Settings(
            KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            MONGODB_URI=uri,
            MONGODB_DATABASE=self.database,
            topic_namespace=namespace,
        )
        self.catalogue = Catalogue.load(*settings.catalogue_args())
        self.store = connect(settings)
        self.env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "MONGODB_URI": uri,
            "MONGODB_DATABASE": self.database,
            "LMP_TOPIC_NAMESPACE": namespace,
            "LMP_CONSUMER_GROUP_PREFIX": self.prefix,
            "LMP_LOG_LEVEL": args.log_level,
            "LMP_HOME": str(home / "home"),
        }
        self.processes: dict[str, ManagedProcess] = {}
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        self.usage = UsageSent(args.usage_partners, self.cycle)
        self.actions = ActionsSent(args.reports, self.cycle)
        self.account_updates = AccountsSent(args.usage_partners)
        self.reads = ApiReads(args.reports, self.cycle)
        self.api_base = ""
        self.killing: set[str] = set()
        self.died: list[str] = []
        self.watches: set[asyncio.Task[None]] = set()
        self.log = CsvLog((args.out / "soak.csv").open("w", newline=""))
        self.t0 = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def topic(self, contract: str) -> str:
        return self.catalogue.physical(contract)

    # start ------------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str]) -> None:
        logs = self.args.out / "logs"
        (logs / f"{name}.log").unlink(missing_ok=True)  # a log of this run only
        proc = ManagedProcess(
            name,
            [sys.executable, *argv],
            logs / f"{name}.log",
            logs / f"{name}.pid",
            {**self.env, "LMP_INSTANCE_ID": name},
            cwd=PROJECT_ROOT,
        )
        proc.start()
        self.processes[name] = proc

    async def setup(self, lag: LagProbe) -> None:
        """Processors and API up; every report open (the usage partners' with a first
        snapshot of each subscription: the load updates reports of the cycle, as it does
        in a month under way), half the action reports submitted."""
        await ensure_topics(self.catalogue, self.bootstrap)
        await self.store.ensure_indexes()
        await self.producer.start()
        for name in PROCESSORS:
            self.spawn(name, ["-m", "services.cli", "process", name])
        reports = self.args.reports
        await self.send(self.actions.opening() + self.account_updates.every_one())
        ids = [report_id(i, self.cycle) for i in range(reports)]
        await self.wait_for({"_id": {"$in": ids}, "account_pending": False}, reports)
        await self.send(self.actions.submissions())
        await self.wait_for({"_id": {"$in": ids}, "status": "under_review"}, reports // 2)
        await self.send([self.usage.next() for _ in self.usage.subs])
        deadline = time.monotonic() + SETUP_SECONDS
        while await lag.lag("usage") or await outbox_backlog(self.store.reports):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the first usage not applied after {SETUP_SECONDS} s")
            await asyncio.sleep(0.5)
        await self.start_api()

    async def start_api(self) -> None:
        now = datetime.now(UTC)
        for role, account_id in self.reads.readers():
            plaintext, stored = new_key(role, account_id, "soak", now)
            await self.store.save_api_key(stored)
            self.reads.keys[account_id] = plaintext
        port = free_port()
        self.spawn("api", ["-m", "services.cli", "api", "--port", str(port), "--workers", "1"])
        self.api_base = f"http://127.0.0.1:{port}"
        await wait_ready(self.api_base, self.processes["api"], seconds=90)

    async def wait_for(self, query: dict[str, Any], count: int) -> None:
        deadline = time.monotonic() + SETUP_SECONDS
        while await self.store.reports.count_documents(query) < count:
            for proc in self.processes.values():
                if not proc.running():
                    raise RuntimeError(f"{proc.name} died:\n{tail(proc.log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"fewer than {count} reports match {query} after {SETUP_SECONDS} s"
                )
            await asyncio.sleep(0.5)

    # load -------------------------------------------------------------------------

    async def send(self, records: list[tuple[str, bytes, bytes]]) -> None:
        futures = [await self.producer.send(self.topic(t), v, key=k) for t, k, v in records]
        await asyncio.gather(*futures)

    async def paced(self, rate: float, fire: Callable[[int], Awaitable[None]]) -> int:
        """``fire(n)`` so that ``rate`` a second are fired until the end, on an absolute
        schedule: a late tick is made up by the next, so the rate does not drift."""
        total, done, tick = int(rate * self.seconds), 0, 0
        while done < total:
            tick += 1
            await asyncio.sleep(max(0.0, tick * TICK - self.elapsed()))
            due = min(total, int(rate * self.elapsed()))
            if due > done:
                await fire(due - done)
                done = due
        return done

    async def stream(self, sent: UsageSent | ActionsSent | AccountsSent, n: int) -> None:
        await self.send([sent.next() for _ in range(n)])

    async def api_load(self, reads: ApiReads) -> int:
        pending: set[asyncio.Task[None]] = set()
        async with ClientSession(timeout=ClientTimeout(total=10)) as client:

            async def fire(n: int) -> None:
                for _ in range(n):
                    task = asyncio.create_task(reads.read(client, self.api_base))
                    pending.add(task)
                    task.add_done_callback(pending.discard)

            done = await self.paced(self.args.api_rate, fire)
            await asyncio.gather(*pending)
        return done

    # watch ------------------------------------------------------------------------

    def pids(self) -> dict[str, int]:
        """Every process sampled: ours, and the embedded servers (from their pid files)."""
        found = {name: pid for name, proc in self.processes.items() if (pid := proc.pid())}
        for name, path in (("kafka", "kafka/kafka.pid"), ("secantusd", "mongo/secantusd.pid")):
            if (self.home / path).exists():
                found[name] = int((self.home / path).read_text())
        return found

    async def sample(self, lag: LagProbe) -> None:
        at = self.elapsed()
        rss = {(name, pid): rss_mib(pid) for name, pid in self.pids().items()}
        rows = [Row(at, "rss_mib", name, pid, mib) for (name, pid), mib in rss.items() if mib > 0]
        rows += [Row(at, "lag", name, None, await lag.lag(name)) for name in PROCESSORS]
        data_dir = self.home / "mongo" if (self.home / "mongo").exists() else None
        rows += await database_rows(self.store.db, at, data_dir)
        self.log.add(*rows)
        for name, proc in self.processes.items():
            if name not in self.killing and not proc.running():
                self.died.append(name)
                print(f"{name} exited on its own:\n{tail(proc.log_path)}", file=sys.stderr)
                proc.start()
                self.log.add(Row(self.elapsed(), "restart", name, proc.pid(), 0))

    async def sampler(self, lag: LagProbe) -> None:
        step = self.args.sample_every
        for n in range(int(self.seconds // step) + 1):
            await asyncio.sleep(max(0.0, n * step - self.elapsed()))
            await self.sample(lag)

    async def chaos(self) -> None:
        """Kill -9 a processor every ``--kill-every`` minutes, by turns; start it again at once.
        Its group is watched from ``BEFORE_KILL_SECONDS`` before (its usual lag) to after."""
        every = self.args.kill_every * 60
        for n in range(1, int(self.seconds // every) + 1):
            if n * every >= self.seconds:
                break
            name = ROTATION[(n - 1) % len(ROTATION)]
            await asyncio.sleep(max(0.0, n * every - BEFORE_KILL_SECONDS - self.elapsed()))
            killed: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            proc = self.processes[name]
            old = proc.pid()
            assert old is not None
            self.watches.add(asyncio.create_task(self.watch(name, old, killed)))
            await asyncio.sleep(max(0.0, n * every - self.elapsed()))
            self.killing.add(name)
            killed.set_result(time.monotonic())
            os.killpg(old, signal.SIGKILL)
            await asyncio.to_thread(proc.stop, 5)
            proc.start()
            self.killing.discard(name)
            at = killed.result() - self.t0
            self.log.add(
                Row(at, "kill", name, old, 0), Row(self.elapsed(), "restart", name, proc.pid(), old)
            )
            print(f"{at / 60:5.1f} min  kill -9 {name} (pid {old}), restarted as {proc.pid()}")

    async def watch(self, name: str, old: int, killed: asyncio.Future[float]) -> None:
        probe = LagProbe(self.bootstrap, self.catalogue, self.prefix)
        await probe.start()
        try:

            def polled(lag: int) -> None:
                self.log.add(Row(self.elapsed(), "lag", name, None, lag))

            before, seconds = await probe.around_kill(
                name, killed, RECOVERY_BOUND_S, time.monotonic, polled
            )
        finally:
            await probe.close()
        self.log.add(
            Row(self.elapsed(), "lag_before_kill_s", name, old, before),
            Row(self.elapsed(), "recovery_s", name, old, seconds),
        )
        print(
            f"        {name}: lag back to its level before the kill ({before:.1f} s) "
            f"{seconds:.1f} s after it"
        )

    async def drain(self, lag: LagProbe) -> bool:
        """Load stopped: every group at lag 0 and no outbox left, within ``DRAIN_SECONDS``."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            lags = [await lag.lag(name) for name in PROCESSORS]
            if not any(lags) and not await outbox_backlog(self.store.reports):
                return True
            await asyncio.sleep(1.0)
        return False

    # account ----------------------------------------------------------------------

    async def account_for(self) -> tuple[Counts, list[str]]:
        """The fault suite's counts over usage and actions together."""
        topics = [(self.topic(t), self.catalogue[self.topic(t)].partitions) for t in OUTBOUND]
        payloads, dead = await published(self.bootstrap, topics)
        action_reports = [report_id(i, self.cycle) for i in range(self.args.reports)]
        answers = await recorded_answers(self.store, action_reports)
        counts, problems = account_for_actions(self.actions.expected, answers, payloads)
        docs = await self.store.reports.find(
            {"_id": {"$in": self.usage.report_ids()}}, {"lines": 1, "partner_id": 1}
        ).to_list(None)
        lost, contradicted, usage_problems = self.usage.account_for(docs)
        counts.sent += self.usage.count
        counts.applied += self.usage.count - lost
        counts.lost += lost
        counts.contradictory += contradicted
        counts.dead_lettered = len(dead)
        return counts, usage_problems + problems

    async def run(self) -> int:
        args = self.args
        started = time.monotonic()
        lag = LagProbe(self.bootstrap, self.catalogue, self.prefix)
        await lag.start()
        await self.setup(lag)
        print(f"set up in {time.monotonic() - started:.0f} s; load for {args.minutes:g} min")
        self.t0 = time.monotonic()
        async with asyncio.TaskGroup() as group:  # one failing cancels the others
            loads = [
                group.create_task(self.paced(args.usage_rate, partial(self.stream, self.usage))),
                group.create_task(self.paced(args.action_rate, partial(self.stream, self.actions))),
                group.create_task(
                    self.paced(args.account_rate, partial(self.stream, self.account_updates))
                ),
                group.create_task(self.api_load(self.reads)),
            ]
            group.create_task(self.sampler(lag))
            group.create_task(self.chaos())
        sent = [task.result() for task in loads]
        loaded = self.elapsed()
        await asyncio.gather(*self.watches)
        drained = await self.drain(lag)
        await self.sample(lag)
        await lag.close()
        counts, problems = await self.account_for()
        warmup_s = args.warmup * 60
        judged = verdict(
            self.log.rows,
            counts,
            warmup_s=warmup_s,
            rss_limit_percent=args.rss_limit,
            recovery_limit_s=args.recovery_limit,
            drained=drained,
            died=self.died,
        )
        lines = [
            f"soak of {args.minutes:g} min at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on "
            f"{os.cpu_count()} cores; warm-up {args.warmup:g} min, a kill every "
            f"{args.kill_every:g} min, samples every {args.sample_every:g} s",
            *self.rates(sent, loaded),
            *judged.lines(),
        ]
        lines[-1:-1] = [f"  {p}" for p in problems[:20]]
        print("\n".join(lines))
        (args.out / "verdict.md").write_text("\n".join(["```", *lines, "```", ""]))
        plot(self.log.rows, args.out / "soak.png", warmup_s, lines[0])
        print(f"wrote {args.out / 'soak.csv'}, soak.png, verdict.md; {counts_line(counts)}")
        return 0 if judged.passed else 1

    def rates(self, sent: Sequence[int], seconds: float) -> list[str]:
        usage, actions, accounts = sent[:3]
        return [
            f"sent in {seconds:.0f} s: usage {usage / seconds:.1f}/s "
            f"({self.usage.copies} exact copies), actions {actions / seconds:.1f}/s, "
            f"account updates {accounts / seconds:.1f}/s",
            self.reads.summary(seconds),
        ]

    async def close(self) -> None:
        for watch in self.watches:
            watch.cancel()
        stop_all(self.processes.values())
        await self.producer.stop()
        await self.store.db.client.drop_database(self.database)
        await self.store.close()


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--usage-rate", type=float, default=500.0, help="usage messages a second")
    parser.add_argument("--action-rate", type=float, default=50.0, help="actions a second")
    parser.add_argument("--api-rate", type=float, default=20.0, help="API requests a second")
    parser.add_argument("--account-rate", type=float, default=5.0, help="account updates a second")
    parser.add_argument("--kill-every", type=float, default=10.0, help="minutes between kills")
    parser.add_argument("--sample-every", type=float, default=30.0, help="seconds")
    parser.add_argument("--warmup", type=float, help="minutes (default: a third of the run)")
    parser.add_argument("--reports", type=int, default=1000, help="reports the actions go to")
    parser.add_argument("--usage-partners", type=int, default=2000)
    parser.add_argument("--rss-limit", type=float, default=10.0, help="percent")
    parser.add_argument("--recovery-limit", type=float, default=30.0, help="seconds")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / ".lmp" / "soak")
    parser.add_argument("--log-level", default="warning", help="the processes' log level")
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = args.minutes / 3
    return args


async def soak(args: argparse.Namespace, bootstrap: str, uri: str, home: Path) -> int:
    run = Soak(args, bootstrap, uri, home)
    try:
        return await run.run()
    finally:
        await run.close()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="lmp-soak-") as tmp,
        servers(Path(tmp)) as (bootstrap, uri),
    ):
        code = asyncio.run(soak(args, bootstrap, uri, Path(tmp)))
    print(f"the soak took {(time.monotonic() - started) / 60:.1f} min in all")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
