"""A running processor beats, and its healthcheck tells when it stopped."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from services.settings import PROJECT_ROOT
from tests.harness import System, eventually

pytestmark = pytest.mark.integration


def healthcheck(path: Path, max_age: float) -> subprocess.CompletedProcess[str]:
    """docker-compose.yml's processor healthcheck, as the container runs it."""
    return subprocess.run(  # noqa: S603 - argv built here
        [sys.executable, "-m", "services.runtime.heartbeat", "--max-age", str(max_age)],
        env={"LMP_HEARTBEAT_FILE": str(path), "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_a_processor_beats_while_it_runs_and_is_unhealthy_once_killed(
    system: System, tmp_path: Path
) -> None:
    path = tmp_path / "beats" / "heartbeat"
    system.start_processor("accounts", env={"LMP_HEARTBEAT_FILE": str(path)})

    async def beaten() -> float | None:
        return path.stat().st_mtime if path.exists() else None

    first = await eventually(beaten, timeout=90)
    assert healthcheck(path, 30).returncode == 0

    async def beaten_again() -> bool:
        return path.stat().st_mtime > first

    await eventually(beaten_again, timeout=30)
    system.kill_processor("accounts")

    async def stale() -> subprocess.CompletedProcess[str] | None:
        result = await asyncio.to_thread(healthcheck, path, 1.5)
        return result if result.returncode == 1 else None

    stopped = await eventually(stale, timeout=30, interval=0.5)
    assert "last heartbeat" in stopped.stderr
    assert "Traceback" not in system.logs("accounts")
