"""A running processor serves its own /metrics and /ready (issue 19): records counted as
they are applied, and readiness failing, with the reason, while records wait on its
partitions and it does not commit (its batches held back by fault injection)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.builders import usage
from tests.harness import System, eventually
from tooling.infra.process import free_port

pytestmark = pytest.mark.integration


async def get(port: int, path: str) -> tuple[int, str] | None:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}{path}", timeout=aiohttp.ClientTimeout(5)) as r,
        ):
            return r.status, await r.text()
    except aiohttp.ClientError:
        return None


def value(text: str, sample: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_a_processor_serves_its_metrics_and_readiness(system: System) -> None:
    port = free_port()
    system.start_processor("usage", env={"LMP_METRICS_PORT": str(port)})
    await system.publish(
        "lmp.usage.v1",
        [usage(f"P{i}", sub="s1", provisioned=5, used=1, id_=f"u{i}") for i in range(5)],
    )
    topic = system.topic("lmp.usage.v1")
    applied = f'lmp_processor_records_total{{outcome="applied",processor="usage",topic="{topic}"}}'

    async def counted() -> str | None:
        answer = await get(port, "/metrics")
        if answer is None or answer[0] != 200:
            return None
        return answer[1] if value(answer[1], applied) == 5 else None

    text = await eventually(counted, timeout=90)
    assert value(text, 'lmp_processor_batch_seconds_count{processor="usage"}')
    assert value(text, 'lmp_processor_in_flight_records{processor="usage"}') == 0
    assert value(text, 'lmp_processor_ready{processor="usage"}') == 1
    ready = await get(port, "/ready")
    assert ready is not None
    assert ready[0] == 200
    assert "usage: ready" in ready[1]


async def test_readiness_fails_with_the_reason_while_records_wait_and_nothing_commits(
    system: System,
) -> None:
    port = free_port()
    system.start_processor(
        "usage",
        env={
            "LMP_METRICS_PORT": str(port),
            "LMP_READY_MAX_SECONDS_SINCE_COMMIT": "2",
            "LMP_FAULT_BATCH_DELAY_SECONDS": "600",
            "LMP_SHUTDOWN_GRACE_SECONDS": "1",
        },
    )
    await system.publish(
        "lmp.usage.v1",
        [usage(f"Q{i}", sub="s1", provisioned=5, used=1, id_=f"q{i}") for i in range(3)],
    )

    async def refused() -> Any:
        answer = await get(port, "/ready")
        return answer if answer is not None and answer[0] == 503 else None

    status, why = await eventually(refused, timeout=90)
    assert status == 503
    assert "no commit for" in why
    assert "records wait" in why
    metrics = await get(port, "/metrics")
    assert metrics is not None
    assert value(metrics[1], 'lmp_processor_ready{processor="usage"}') == 0
