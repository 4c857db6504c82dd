"""One trace across processes, over the real broker and database (issue 19).

The distributor's action arrives with a W3C ``traceparent`` (structured mode: the
CloudEvents distributed-tracing attribute; binary mode: the ``ce_traceparent`` header);
the report event and the billing submission it causes leave with the same trace id, and
so does the report event a usage snapshot causes. Tracing is on in the processors
(``OTEL_TRACES_EXPORTER=lmp-drop``: spans recorded, exported to nowhere).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import to_binary, to_structured

from services.observability.tracing import DROP
from tests.harness import System, eventually
from tests.scenario import PRODUCT_A, Month, Record
from tests.sdk_events import Convert, sdk_event

pytestmark = pytest.mark.e2e


PROCESSORS = ("accounts", "pricing", "usage", "partner-actions", "distributor-actions")
PROCESSOR_ENV = {
    name: {"OTEL_TRACES_EXPORTER": DROP, "LMP_LOG_FORMAT": "json"} for name in PROCESSORS
}


def traced_publisher(system: System, convert: Convert, traces: dict[str, str]) -> Any:
    """Publishes each record with a fresh trace context of its own, noted by message id."""

    async def publish(contract_topic: str, records: list[Record]) -> None:
        sent = []
        for key, value in records:
            body = json.loads(value)
            trace_id = secrets.token_hex(16)
            body["traceparent"] = f"00-{trace_id}-{secrets.token_hex(8)}-01"
            traces[body["id"]] = trace_id
            message = convert(sdk_event(json.dumps(body).encode()), _format())
            sent.append((key, message.value, list(message.headers.items())))
        await system.publish_with_headers(contract_topic, sent)

    return publish


def _format() -> Any:
    from cloudevents.core.formats.json import JSONFormat

    return JSONFormat()


def trace_of(event: dict[str, Any]) -> str:
    trace_id: str = event["traceparent"].split("-")[1]
    return trace_id


@pytest.mark.parametrize("convert", [to_structured, to_binary], ids=["structured", "binary"])
async def test_the_events_an_action_causes_carry_its_trace(
    running: System, convert: Convert
) -> None:
    traces: dict[str, str] = {}
    month = Month(running, publish=traced_publisher(running, convert, traces))
    await month.open(datetime.now(UTC))
    usage_traces = set(traces.values())

    async def opened_events() -> list[dict[str, Any]] | None:
        found = [e for e in await month.events() if e["type"] == "lmp.report.opened"]
        return found or None

    opened = await eventually(opened_events, timeout=60)
    assert {trace_of(e) for e in opened} <= usage_traces  # caused by a usage snapshot

    explained = {"lines": [{"product_id": PRODUCT_A, "comment": "onboarding seats"}]}
    submitted = await month.partner_does("report-submitted", explained)
    event = await month.event_caused_by(submitted, "lmp.report.submitted")
    assert trace_of(event) == traces[submitted]

    to_tm = await month.distributor_does("submitted-to-trendmicro", {"po_number": "PO-19"})
    event = await month.event_caused_by(to_tm, "lmp.report.submitted-to-trendmicro")
    assert trace_of(event) == traces[to_tm]
    [bill] = await month.events("lmp.trendmicro-submissions.v1")
    assert trace_of(bill) == traces[to_tm]
    assert event["traceparent"].split("-")[2] == bill["traceparent"].split("-")[2]
