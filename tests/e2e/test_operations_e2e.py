"""What operations see of a running system: metrics from every processor, lag, readiness."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from services.api.run import api_context
from services.api.server import build_api
from tests.harness import Servers, System, eventually
from tests.scenario import CYCLE, Month

pytestmark = pytest.mark.e2e

PROCESSORS = ("usage", "accounts", "pricing", "partner-actions", "timer")


@pytest.fixture(scope="module")
async def operated(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[System, str]]:
    system = System(servers, tmp_path_factory.mktemp("operations"))
    system.extra_env["LMP_METRICS_FLUSH_SECONDS"] = "0.5"
    await system.run_processors(PROCESSORS)
    settings = system.settings.model_copy(
        update={"consumer_group_prefix": system.namespace.rstrip(".")}
    )
    ctx = api_context(settings)
    server = TestServer(build_api(ctx))
    await server.start_server()
    try:
        yield system, str(server.make_url(""))
    finally:
        await server.close()
        await ctx.store.close()
        dead = {name: system.logs(name) for name in system.dead_processors()}
        await system.close()
        if dead:
            pytest.fail(f"processors died: {dead}")


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one Prometheus sample whose labels include ``labels``."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) :].split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_metrics_count_what_every_processor_did(
    operated: tuple[System, str],
) -> None:
    system, base = operated
    month = Month(system)
    await month.open(datetime.now(UTC))
    refused = await month.partner_does("report-submitted")
    await month.refusal(refused)
    await system.publish("lmp.usage.v1", [(b"P-broken", b"{not json")])
    usage_topic = system.topic("lmp.usage.v1")
    actions_topic = system.topic("lmp.partner-actions.v1")

    async with ClientSession() as client:

        async def scrape() -> str | None:
            async with client.get(f"{base}/metrics") as resp:
                assert resp.status == 200
                text = await resp.text()
            wanted = [
                sample(text, "lmp_messages_total", topic=usage_topic, outcome="processed"),
                sample(text, "lmp_messages_total", topic=usage_topic, outcome="dead_lettered"),
                sample(text, "lmp_messages_total", topic=actions_topic, outcome="refused"),
                sample(text, "lmp_timer_runs_total", processor="timer"),
                sample(text, "lmp_reports_auto_submitted_total", processor="timer"),
            ]
            return text if all(v is not None and v >= 1 for v in wanted) else None

        text = await eventually(scrape, timeout=60)
        assert sample(text, "lmp_messages_total", topic=usage_topic, outcome="processed") == 4
        assert sample(text, "lmp_messages_total", topic=usage_topic, outcome="dead_lettered") == 1
        assert sample(text, "lmp_messages_total", topic=actions_topic, outcome="refused") == 1
        # The scenario's deadline has passed: the timer submitted the report, with penalties.
        assert sample(text, "lmp_reports_auto_submitted_total", processor="timer") == 1
        assert (
            sample(
                text,
                "lmp_reports",
                status="under_review",
                submission_kind="automatic_with_penalties",
            )
            == 1
        )
        assert sample(text, "lmp_reports", status="msp_preparing", submission_kind="") == 0
        group = f"{system.namespace.rstrip('.')}-usage"

        async def caught_up() -> bool:
            async with client.get(f"{base}/metrics") as resp:
                lag = sample(await resp.text(), "lmp_consumer_lag", group=group, topic=usage_topic)
            return lag == 0

        await eventually(caught_up, timeout=60)
        async with client.get(f"{base}/ready") as resp:
            assert resp.status == 200
            assert (await resp.json())["checks"]["kafka"] == "ok"
    assert month.report_id.endswith(CYCLE)


async def test_readiness_fails_clearly_without_the_database() -> None:
    from services.settings import Settings

    settings = Settings(
        MONGODB_URI="mongodb://127.0.0.1:1",
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
        mongodb_timeout_seconds=1.0,  # the client's options win over the URI's
    )
    ctx = api_context(settings)
    server = TestServer(build_api(ctx))
    await server.start_server()
    try:
        async with ClientSession() as client:
            async with client.get(str(server.make_url("/ready"))) as resp:
                body = await resp.json()
                assert resp.status == 503
                assert body["status"] == "not_ready"
                assert body["checks"]["database"].startswith("unavailable")
                assert body["checks"]["kafka"].startswith("unavailable")
            async with client.get(str(server.make_url("/health"))) as resp:
                assert resp.status == 200
            headers = {"X-API-Key": "lmp_0123456789abcdef_secret"}
            async with client.get(
                str(server.make_url("/v1/billing-reports")), headers=headers
            ) as resp:
                assert resp.status == 503
                assert resp.headers["Retry-After"] == "5"
                assert resp.content_type == "application/problem+json"
                assert (await resp.json(content_type=None))["code"] == "unavailable"
    finally:
        await server.close()
        await ctx.store.close()
