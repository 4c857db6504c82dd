"""JSON log lines carry the ids of the message being worked on; a processor's own metrics
and its readiness (no commit for too long while records wait) say what they should."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services import logs
from services.observability import log_format, tracing
from services.processors import actions
from services.runtime import process_metrics
from services.runtime.batch_runner import BatchRunner
from tests.builders import TRACE_A, action, traced
from tests.fakes import Shell
from tests.unit.in_memory import EXPLAINED, REPORT, open_report

pytestmark = pytest.mark.unit


@pytest.fixture
def json_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Root logs as JSON into a buffer, as ``LMP_LOG_FORMAT=json`` sets them up."""
    monkeypatch.setenv("LMP_LOG_FORMAT", "json")
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    buffer = io.StringIO()
    root.handlers[:] = [logging.StreamHandler(buffer)]
    logs.configure("debug")
    log_format.set_process(processor="partner-actions", instance="i7")
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)
    log_format._process.clear()


async def test_json_log_lines_about_a_message_carry_its_ids(
    json_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = InMemorySpanExporter()
    tracing.install(SimpleSpanProcessor(exporter), "test")
    from services.domain.workflow import decide

    def deciding(*args: Any) -> Any:
        logging.getLogger("probe").info("deciding")
        return decide(*args)

    monkeypatch.setattr(actions, "decide", deciding)
    try:
        shell = Shell()
        await open_report(shell)
        runtime = shell.runtime("partner-actions")
        submit = action("lmp.partner.report-submitted", "P", "P", id_="p1", lines=EXPLAINED)
        message = shell.message("lmp.partner-actions.v1", traced(submit, TRACE_A))
        await BatchRunner(runtime, actions.PARTNER_ACTIONS.handler(runtime)).run([message])
    finally:
        tracing.uninstall()
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    [probe] = [line for line in lines if line["message"] == "deciding"]
    assert probe["level"] == "info"
    assert probe["logger"] == "probe"
    assert (probe["processor"], probe["instance"]) == ("partner-actions", "i7")
    assert (probe["topic"], probe["partition"], probe["offset"]) == (
        message.topic,
        0,
        message.offset,
    )
    assert (probe["message_id"], probe["report_id"]) == ("p1", REPORT)
    assert probe["trace_id"] == TRACE_A


def test_text_stays_the_default_and_auto_picks_json_off_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LMP_LOG_FORMAT", raising=False)
    assert log_format.format_from_environment() == "text"
    monkeypatch.setenv("LMP_LOG_FORMAT", "auto")
    assert log_format.format_from_environment(io.StringIO()) == "json"
    monkeypatch.setenv("LMP_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="LMP_LOG_FORMAT"):
        log_format.format_from_environment()


def test_text_lines_keep_their_format_and_append_the_ids() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    log_format.apply(handler, "text", logs.FORMAT)
    probe = logging.getLogger("probe.text")
    probe.addHandler(handler)
    try:
        with log_format.bound(report_id="P:2026-10", offset=4):
            probe.warning("hello")
    finally:
        probe.removeHandler(handler)
    assert buffer.getvalue().strip() == "[WARNING] hello report_id=P:2026-10 offset=4"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_not_ready_when_no_commit_for_too_long_while_records_wait() -> None:
    clock = Clock()
    metrics = process_metrics.ProcessMetrics("usage", bound_seconds=60, clock=clock)

    async def source(committed: Any) -> dict[tuple[str, int], tuple[int, int]]:
        return {("lmp.usage.v1", 0): (500, committed.get(("lmp.usage.v1", 0), 100))}

    metrics.lag_source = source
    await metrics.refresh()
    assert metrics.lag == {("lmp.usage.v1", 0): 400}
    assert metrics.readiness()[0]  # lag, but it committed recently (at start)
    clock.now += 61
    ready, why = metrics.readiness()
    assert not ready
    assert "no commit for 61s" in why
    assert "400 records wait" in why
    metrics.committed({("lmp.usage.v1", 0): 500})
    assert metrics.readiness()[0]  # caught up
    clock.now += 600
    assert metrics.readiness()[0]  # idle without lag is ready

    async with TestClient(TestServer(process_metrics.app(metrics))) as client:
        metrics.highwater[("lmp.usage.v1", 0)] = 900
        answer = await client.get("/ready")
        assert answer.status == 503
        assert "400 records wait" in await answer.text()
        scraped = await (await client.get("/metrics")).text()
    assert (
        'lmp_processor_consumer_lag{partition="0",processor="usage",topic="lmp.usage.v1"} 400.0'
        in scraped
    )
    assert 'lmp_processor_ready{processor="usage"} 0.0' in scraped
    assert 'lmp_processor_seconds_since_commit{processor="usage"} 600.0' in scraped


async def test_the_batch_runner_counts_records_by_outcome_and_times_batches() -> None:
    metrics = process_metrics.start("partner-actions")
    shell = Shell()
    await open_report(shell)
    runtime = shell.runtime("partner-actions")
    submit = action("lmp.partner.report-submitted", "P", "P", id_="p1", lines=EXPLAINED)
    batch = [
        shell.message("lmp.partner-actions.v1", submit),
        shell.message("lmp.partner-actions.v1", (b"k", b"not json")),
    ]
    await BatchRunner(runtime, actions.PARTNER_ACTIONS.handler(runtime)).run(batch)
    topic = batch[0].topic
    value = metrics.registry.get_sample_value
    labels = {"processor": "partner-actions", "topic": topic}
    assert value("lmp_processor_records_total", {**labels, "outcome": "applied"}) == 1
    assert value("lmp_processor_records_total", {**labels, "outcome": "dead_lettered"}) == 1
    assert value("lmp_processor_batch_seconds_count", {"processor": "partner-actions"}) == 1
    assert value("lmp_processor_in_flight_records", {"processor": "partner-actions"}) == 0


def test_the_metrics_port_is_off_unless_set() -> None:
    assert process_metrics.port_from_environment({}) == 0
    assert process_metrics.port_from_environment({"LMP_METRICS_PORT": "9464"}) == 9464
    with pytest.raises(ValueError, match="LMP_METRICS_PORT"):
        process_metrics.port_from_environment({"LMP_METRICS_PORT": "70000"})


def test_up_gives_each_processor_its_own_metrics_port() -> None:
    from tooling import metrics_ports

    handles = ["usage", "timer", "accounts"]
    assert metrics_ports.assign(handles, {"LMP_METRICS_PORT": "9500"}) == {
        "usage": 9500,
        "timer": 9501,
        "accounts": 9502,
    }
    assert set(metrics_ports.assign(handles, {"LMP_METRICS_PORT": "0"}).values()) == {0}
    free = metrics_ports.assign(handles, {})
    assert len(set(free.values())) == 3
    assert all(free.values())
