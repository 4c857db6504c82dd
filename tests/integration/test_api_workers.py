"""``lmp-billing api --workers 2``: two processes answer on one port, their metrics are
summed, SIGTERM to the parent stops them all, and a worker that cannot start fails it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import ClientSession, TCPConnector

from schemas.api import Role
from schemas.report import ReportStatus
from services.adapters.store import connect
from services.api.auth import new_key
from services.settings import PROJECT_ROOT, Settings
from tests.builders import report
from tests.harness import Servers, eventually, unique
from tooling.infra.process import ManagedProcess, free_port

pytestmark = pytest.mark.integration

REQUESTS = 200


@dataclass
class Pool:
    process: ManagedProcess
    base: str
    key: str


def api(tmp_path: Path, port: int, env: dict[str, str], workers: int = 2) -> ManagedProcess:
    return ManagedProcess(
        name="api",
        argv=[
            *(sys.executable, "-m", "services.cli", "api"),
            *("--port", str(port), "--workers", str(workers)),
        ],
        log_path=tmp_path / "api.log",
        pid_path=tmp_path / "api.pid",
        env={"PYTHONPATH": str(PROJECT_ROOT), **env},
    )


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.fixture
async def pool(servers: Servers, tmp_path: Path) -> AsyncIterator[Pool]:
    database = unique("lmp_workers_")
    store = connect(Settings(MONGODB_URI=servers.mongodb_uri, MONGODB_DATABASE=database))
    await store.ensure_indexes()
    await store.reports.insert_many(
        [report(f"P-W{n}", "2026-10", ReportStatus.UNDER_REVIEW).to_document() for n in range(5)]
    )
    key, stored = new_key(Role.OPERATIONS, None, "workers test", datetime.now(UTC))
    await store.save_api_key(stored)
    port = free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": servers.bootstrap_servers,
        "MONGODB_URI": servers.mongodb_uri,
        "MONGODB_DATABASE": database,
    }
    process = api(tmp_path, port, env)
    process.start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with ClientSession() as client:

            async def ready() -> bool:
                try:
                    async with client.get(f"{base}/ready") as resp:
                        return resp.status == 200
                except OSError:
                    return False

            await eventually(ready, timeout=60)
        yield Pool(process, base, key)
    finally:
        process.stop()
        await store.db.command("dropDatabase")
        await store.close()


async def test_two_workers_answer_on_one_port_and_sigterm_stops_them_all(pool: Pool) -> None:
    headers = {"Authorization": f"Bearer {pool.key}"}
    # A new connection per request: the kernel spreads connections, not requests.
    async with ClientSession(connector=TCPConnector(force_close=True, limit=10)) as client:

        async def one() -> int:
            async with client.get(f"{pool.base}/v1/billing-reports", headers=headers) as resp:
                await resp.read()
                return resp.status

        statuses = await asyncio.gather(*(one() for _ in range(REQUESTS)))
        assert statuses == [200] * REQUESTS
        async with client.get(f"{pool.base}/metrics") as resp:
            metrics = await resp.text()

    per_worker = {
        int(pid): float(count)
        for pid, count in re.findall(r'lmp_api_worker_requests_total\{pid="(\d+)"\} (\S+)', metrics)
    }
    parent = pool.process.pid()
    assert parent is not None
    assert len(per_worker) == 2, metrics
    assert all(count > 0 for count in per_worker.values()), per_worker
    assert {parent_of(pid) for pid in per_worker} == {parent}
    # Any worker's scrape sums every worker's counts (prometheus_client multiprocess mode).
    listed = re.search(
        r'lmp_api_requests_total\{route="/v1/billing-reports",status="200"\} (\S+)', metrics
    )
    assert listed is not None
    assert float(listed.group(1)) == REQUESTS

    os.kill(parent, signal.SIGTERM)  # the parent only: it passes the signal on
    await eventually(lambda: _ended(pool.process), timeout=30)
    assert pool.process.returncode() == 0, pool.process.log_path.read_text()[-2000:]
    assert not any(alive(pid) for pid in per_worker)


async def _ended(process: ManagedProcess) -> bool:
    return not process.running()


async def test_a_worker_that_cannot_start_stops_the_api_with_a_reason(
    servers: Servers, tmp_path: Path
) -> None:
    nothing_there = free_port()
    process = api(
        tmp_path,
        free_port(),
        {
            "KAFKA_BOOTSTRAP_SERVERS": servers.bootstrap_servers,
            "MONGODB_URI": f"mongodb://127.0.0.1:{nothing_there}/?directConnection=true",
            "LMP_MONGODB_TIMEOUT_SECONDS": "1",
        },
    )
    process.start()
    try:
        await eventually(lambda: _ended(process), timeout=60)
    finally:
        process.stop()
    log = process.log_path.read_text()
    assert process.returncode() == 1, log[-2000:]
    assert re.search(r"lmp-billing api: worker \d \(pid \d+\) exited with code 1 before it", log)


def test_workers_need_a_free_fixed_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for argv, code, reason in (
            (["--workers", "2", "--port", str(port)], 1, f"cannot listen on 127.0.0.1:{port}"),
            (["--workers", "2", "--port", "0"], 1, "needs a fixed port"),
            (["--workers", "0"], 2, "at least 1"),
        ):
            done = subprocess.run(  # noqa: S603 - our own command line
                [sys.executable, "-m", "services.cli", "api", *argv],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=PROJECT_ROOT,
                env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)},
                check=False,
            )
            assert (done.returncode, reason in done.stderr) == (code, True), done.stderr
