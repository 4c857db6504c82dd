"""One message followed through the processors: the trace an action arrives with is the
trace of its decision, its save, its publication and of every event it caused; a
redelivered action is linked to the trace of its first decision and changes nothing.

In process, on the in-memory store, through the batch runner (the seam the consumer
paths use), with an in-memory span exporter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.observability import tracing
from services.processors import actions
from services.runtime.batch_runner import BatchRunner
from tests.builders import TRACE_A, TRACE_B, Record, action, partner_account, price, traced
from tests.builders import usage as usage_record
from tests.fakes import Shell
from tests.unit.in_memory import (
    EXPLAINED,
    REPORT,
    SPECS,
    handle,
    open_report,
)

pytestmark = pytest.mark.unit

SUBMISSIONS = "lmp.trendmicro-submissions.v1"
EVENTS = "lmp.report-events.v1"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install(SimpleSpanProcessor(exporter), "test")
    yield exporter
    tracing.uninstall()


async def run(shell: Shell, name: str, *records: Record) -> None:
    """``records`` through the batch runner, as a consumer path hands them over."""
    spec = SPECS[name]
    runtime = shell.runtime(name)
    runner = BatchRunner(runtime, spec.handler(runtime))
    await runner.run([shell.message(spec.topics[0], record) for record in records])


def trace_of(event: dict[str, Any]) -> str:
    traceparent: str = event["traceparent"]
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (version, len(span_id)) == ("00", 16)
    assert int(flags, 16) & 1
    return trace_id


def in_trace(spans: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    return [
        s
        for s in spans.get_finished_spans()
        if s.context is not None and format(s.context.trace_id, "032x") == trace_id
    ]


async def test_a_distributor_action_is_one_trace_from_record_to_published_events(
    spans: InMemorySpanExporter,
) -> None:
    shell = Shell()
    await open_report(shell)
    submit = action("lmp.partner.report-submitted", "P", "P", id_="p1", lines=EXPLAINED)
    assert await handle(shell, "partner-actions", submit) == []
    before = len(shell.producer.sent)
    to_tm = action("lmp.distributor.submitted-to-trendmicro", "P", "D1", id_="d1", po_number="PO-1")

    await run(shell, "distributor-actions", traced(to_tm, TRACE_A))

    published = [json.loads(v) for _, _, v in shell.producer.sent[before:] if v]
    [billing] = shell.events(SUBMISSIONS)
    report_events = [e for e in published if e["type"].startswith("lmp.report.")]
    assert billing["type"] == "lmp.billing.submitted"
    assert report_events
    assert {trace_of(e) for e in [billing, *report_events]} == {TRACE_A}
    assert {e["tracestate"] for e in [billing, *report_events]} == {"vendor=x"}
    names = {s.name for s in in_trace(spans, TRACE_A)}
    assert {"distributor-actions process", "decode", "decide", "decide action"} <= names
    assert {"save", "publish"} <= names
    # The events carry the span that decided the action, a child of the inbound one.
    [decided] = [s for s in in_trace(spans, TRACE_A) if s.name == "decide action"]
    assert decided.context is not None
    assert billing["traceparent"].split("-")[2] == format(decided.context.span_id, "016x")
    [batch] = [s for s in in_trace(spans, TRACE_A) if s.name.endswith(" process")]
    assert batch.parent is not None
    assert format(batch.parent.span_id, "016x") == "b7ad6b7169203331"


async def test_a_redelivered_action_links_to_its_first_decision_and_sends_the_same_bytes(
    spans: InMemorySpanExporter,
) -> None:
    shell = Shell()
    await open_report(shell)
    submit = action("lmp.partner.report-submitted", "P", "P", id_="p1", lines=EXPLAINED)
    await run(shell, "partner-actions", traced(submit, TRACE_A))
    first = [v for t, _, v in shell.producer.sent if t.endswith("report-events.v1")]
    decisions = (await shell.store.load_report(REPORT)).decisions  # type: ignore[union-attr]

    # The portal sends the same action again, under a trace of its own.
    await run(shell, "partner-actions", traced(submit, TRACE_B, "00f067aa0ba902b7"))

    again = [v for t, _, v in shell.producer.sent if t.endswith("report-events.v1")]
    assert again[len(first) :] == first[-len(again[len(first) :]) :]  # byte for byte
    assert (await shell.store.load_report(REPORT)).decisions == decisions  # type: ignore[union-attr]
    [replay] = [s for s in in_trace(spans, TRACE_B) if s.name == "replay recorded decision"]
    assert [format(link.context.trace_id, "032x") for link in replay.links] == [TRACE_A]
    assert not [s for s in in_trace(spans, TRACE_B) if s.name == "decide action"]


@pytest.mark.usefixtures("spans")
async def test_a_usage_snapshot_and_the_report_event_it_caused_are_one_trace() -> None:
    shell = Shell()
    await handle(shell, "accounts", partner_account("P", days=3))
    await handle(shell, "pricing", price("AV"))
    await run(
        shell,
        "usage",
        traced(usage_record("P", sub="s1", provisioned=10, used=4, id_="u1"), TRACE_A),
    )
    opened = [e for e in shell.events(EVENTS) if e["subject"] == REPORT]
    assert opened
    assert {trace_of(e) for e in opened} == {TRACE_A}


async def test_the_timer_pass_is_a_trace_of_its_own_with_a_span_per_report(
    spans: InMemorySpanExporter,
) -> None:
    from datetime import timedelta

    from services.processors.timer import DeadlineTimer

    shell = Shell()
    await open_report(shell)
    shell.now += timedelta(days=30)
    spans.clear()
    before = len(shell.events(EVENTS))
    await DeadlineTimer(shell.runtime("timer")).tick()
    finished = spans.get_finished_spans()
    [root] = [s for s in finished if s.name == "timer pass"]
    assert root.parent is None
    assert root.context is not None
    decided = [s for s in finished if s.name == "decide"]
    assert decided
    assert all(s.context.trace_id == root.context.trace_id for s in decided)
    events = shell.events(EVENTS)[before:]
    assert events
    assert {trace_of(e) for e in events} == {format(root.context.trace_id, "032x")}


async def test_with_tracing_off_events_are_the_bytes_they_always_were() -> None:
    assert not tracing.enabled()
    shell = Shell()
    await open_report(shell)
    await run(
        shell,
        "partner-actions",
        traced(
            action("lmp.partner.report-submitted", "P", "P", id_="p1", lines=EXPLAINED), TRACE_A
        ),
    )
    assert shell.events(EVENTS)
    assert not [e for e in shell.events(EVENTS) if "traceparent" in e]


def test_binary_mode_traceparent_header_is_the_records_context() -> None:
    from services.adapters.codec import InboundMessage

    message = InboundMessage(
        "t",
        0,
        1,
        None,
        b"{}",
        headers=(("ce_traceparent", f"00-{TRACE_A}-b7ad6b7169203331-01".encode()),),
    )
    ctx = tracing.inbound(message)
    assert ctx is not None
    assert tracing.extract("00-zz-b7ad6b7169203331-01") is None


def test_tracing_is_off_unless_the_otel_variables_ask_for_it() -> None:
    assert not tracing.wanted({})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp"})
    assert actions.DISTRIBUTOR_ACTIONS.name == "distributor-actions"


async def test_the_read_api_traces_a_request_in_the_callers_trace(
    spans: InMemorySpanExporter,
) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from services.observability import http

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application(middlewares=http.middlewares())
    app.router.add_get("/v1/things/{id}", hello)
    async with TestClient(TestServer(app)) as client:
        answer = await client.get(
            "/v1/things/7", headers={"traceparent": f"00-{TRACE_A}-b7ad6b7169203331-01"}
        )
        assert answer.status == 200
    [span] = in_trace(spans, TRACE_A)
    assert span.name == "GET /v1/things/{id}"
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200


async def test_in_a_batch_of_many_traces_each_report_is_decided_in_its_own_usages_trace(
    spans: InMemorySpanExporter,
) -> None:
    shell = Shell()
    await handle(shell, "accounts", partner_account("P"), partner_account("Q"))
    await handle(shell, "pricing", price("AV"))
    await run(
        shell,
        "usage",
        traced(usage_record("P", sub="s1", provisioned=10, used=4, id_="u1"), TRACE_A),
        traced(usage_record("Q", sub="s1", provisioned=10, used=4, id_="u2"), TRACE_B),
        traced(usage_record("P", sub="s2", provisioned=3, used=1, id_="u3"), "1" * 32),
    )
    by_report: dict[str, set[str]] = {}
    for event in shell.events(EVENTS):
        by_report.setdefault(event["subject"], set()).add(trace_of(event))
    assert by_report == {REPORT: {TRACE_A}, REPORT.replace("P", "Q"): {TRACE_B}}
    [batch] = [s for s in spans.get_finished_spans() if s.name == "usage process"]
    linked = {format(link.context.trace_id, "032x") for link in batch.links}
    assert linked == {TRACE_A, TRACE_B, "1" * 32}
    [decided_p] = [s for s in in_trace(spans, TRACE_A) if s.name == "decide"]
    assert {format(link.context.trace_id, "032x") for link in decided_p.links} >= {"1" * 32}
