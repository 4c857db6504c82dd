"""``lmp-billing up --instances 2``: the embedded servers and two of every processor.

Started as a user starts it (its own home, ports and servers), it must bring every
processor's consumer group to two members, apply what it is sent, and stop everything
on SIGTERM with exit 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services.processors import registry
from services.settings import PROJECT_ROOT
from tests.e2e.up_support import up_environment
from tests.harness import eventually

pytestmark = pytest.mark.e2e


async def group_members(bootstrap: str, groups: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        members: dict[str, Any] = {}
        for group in groups:  # one at a time: aiokafka misreads some multi-group answers
            responses = await admin.describe_consumer_groups([group])
            # Raw DescribeGroups answers: (error, group, state, protocol type, protocol, members)
            members |= {e[1]: len(e[5]) for r in responses for e in r.groups if e[2] == "Stable"}
        return members
    finally:
        await admin.close()


async def test_up_runs_two_of_every_processor_and_stops_them_all(tmp_path: Path) -> None:
    env, kafka_port = up_environment(tmp_path, "up-test")
    home = Path(env["LMP_HOME"])
    log = (tmp_path / "up.log").open("w")
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "services.cli", "up", "--instances", "2"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    names = list(registry())
    groups = [f"up-test-{n}" for n in names]
    bootstrap = f"127.0.0.1:{kafka_port}"
    try:

        async def all_doubled() -> bool:
            if proc.returncode is not None:
                raise AssertionError((tmp_path / "up.log").read_text())
            try:
                members = await group_members(bootstrap, groups)
            except Exception:
                return False
            return all(members.get(g) == 2 for g in groups)

        await eventually(all_doubled, timeout=240, interval=2.0)
        runs = sorted(p.name for p in (home / "run").glob("*.pid"))
        assert runs == sorted([f"{n}-{i}.pid" for n in names for i in (0, 1)] + ["api.pid"])
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=120)
        log.close()
    output = (tmp_path / "up.log").read_text()
    assert code == 0, output
    assert "stopping..." in output
    leftover = list((home / "run").glob("*.pid"))
    assert not leftover, leftover
