"""Both CloudEvents content modes over the real broker and database (issue 15).

Two partners live the same month: one whose every upstream record (accounts, prices,
usage, actions) is published in binary mode with the official SDK's ``to_binary``, the
other in structured mode with ``to_structured``. Their reports must be the same apart
from ids, and every record the system wrote must parse with the SDK's ``from_kafka``
and carry the structured-mode content type. Accounts, pricing and usage take the bulk
consumer path; partner actions take the faust agent path, the distributor's the bulk one.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat

from services.adapters.cloudevents_binding import STRUCTURED_CONTENT_TYPE
from tests.harness import System, eventually
from tests.scenario import PRODUCT_A, PRODUCT_B, Month, Record
from tests.sdk_events import Convert, sdk_event

pytestmark = pytest.mark.e2e

OUTBOUND = ("lmp.report-events.v1", "lmp.trendmicro-submissions.v1", "lmp.dead-letter.v1")


PROCESSORS = ("accounts", "pricing", "usage", "distributor-actions", "partner-actions")
PROCESSOR_ENV = {"partner-actions": {"LMP_ACTION_CONSUMER": "agent"}}
"""Partner actions on the faust agent path, the rest on the bulk path."""


def publisher(system: System, convert: Convert) -> Callable[[str, list[Record]], Any]:
    async def publish(contract_topic: str, records: list[Record]) -> None:
        messages = [(key, convert(sdk_event(value), JSONFormat())) for key, value in records]
        await system.publish_with_headers(
            contract_topic,
            [(key, m.value, list(m.headers.items())) for key, m in messages],
        )

    return publish


async def life(month: Month) -> None:
    """Open, a partner's draft and submission, one refusal, the distributor's review
    and submission to Trend Micro (a billing submission)."""
    await month.open(datetime.now(UTC))
    draft = await month.partner_does(
        "draft-saved", {"lines": [{"product_id": PRODUCT_A, "comment": "onboarding seats"}]}
    )
    await month.event_caused_by(draft, "lmp.report.draft-saved")
    await month.event_caused_by(
        await month.partner_does("report-submitted"), "lmp.report.submitted"
    )
    await month.refusal(await month.partner_does("report-submitted"))
    review = await month.distributor_does(
        "draft-saved",
        {
            "po_number": "PO-7",
            "lines": [
                {"product_id": PRODUCT_A, "promo_code": month.code, "unit_price": "9.50"},
                {"product_id": PRODUCT_B, "channel_margin": "0.25", "promo_code": month.code},
            ],
        },
    )
    await month.event_caused_by(review, "lmp.report.draft-saved")
    to_tm = await month.distributor_does("submitted-to-trendmicro", {"comment": "modes"})
    await month.event_caused_by(to_tm, "lmp.report.submitted-to-trendmicro")


VOLATILE = {"_id", "_writer", "at", "time", "decided_at", "updated_at", "outbox_since"}
DIGESTS = {"payload_hash", "version"}
"""Digests of data that names the partner differ as the ids do; a version counts writes,
which depend on how records fell into batches, not on their content mode."""
UNIQUE = re.compile(r"(action-\d+-)[0-9a-f]{8}|evt-[0-9a-f]{32}")


def without_ids(value: Any, month: Month) -> Any:
    """``value`` with the month's own ids, message ids and clock readings left out."""
    text = json.dumps(value, default=str, sort_keys=True)
    for name in ("other_distributor", "distributor", "partner", "code"):
        text = text.replace(getattr(month, name), f"<{name}>")
    return _strip(json.loads(UNIQUE.sub(lambda m: m.group(1) or "evt-", text)))


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE | DIGESTS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, str) and value.startswith('{"specversion"'):
        return _strip(json.loads(value))  # an event as the outbox stored it
    return value


async def dead_letter_of(system: System, message_id: str) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        for record in await system.read_all("lmp.dead-letter.v1"):
            if record["value"]["data"]["message_id"] == message_id:
                data: dict[str, Any] = record["value"]["data"]
                return data
        return None

    return await eventually(find, timeout=60)


async def test_binary_and_structured_mode_make_the_same_report_and_structured_records_out(
    running: System,
) -> None:
    months = (
        Month(running, publish=publisher(running, to_binary)),
        Month(running, publish=publisher(running, to_structured)),
    )
    await asyncio.gather(*(life(month) for month in months))

    # An event is seen on its topic a moment before the relay clears the outbox it came
    # from (publish, then clear): compare the reports once both outboxes are drained.
    reports = [
        without_ids(await month.report_where(lambda r: not r["outbox"]), month) for month in months
    ]
    assert reports[0]["status"] == "submitted_to_trendmicro"
    assert reports[0] == reports[1]
    events = [[without_ids(e, m) for e in await m.events()] for m in months]
    assert [e["type"] for e in events[0]] == [e["type"] for e in events[1]]
    assert events[0] == events[1]
    bills = [await m.events("lmp.trendmicro-submissions.v1") for m in months]
    assert without_ids(bills[0], months[0]) == without_ids(bills[1], months[1])
    assert len(bills[0]) == 1

    # A binary record that cannot be applied: its dead letter keeps its headers.
    key, value = months[0].usage(PRODUCT_A, "sub-x", 1, None)
    event = sdk_event(value.replace(b'"2026-10"', b'"2026-13"'))
    bad = to_binary(event, JSONFormat())
    sent_headers = list(bad.headers.items())
    await running.publish_with_headers("lmp.usage.v1", [(key, bad.value, sent_headers)])
    letter = await dead_letter_of(running, event.get_id())
    assert letter["error_kind"] == "schema"
    assert "cycle" in letter["error"]
    kept = [(h["name"], h["value"].encode()) for h in letter["headers"]]
    assert kept == sent_headers

    # Everything written out is a structured-mode CloudEvent the SDK reads.
    for topic in OUTBOUND:
        records = await running.read_all(topic)
        assert records, topic
        for record in records:
            assert dict(record["headers"])["content-type"] == STRUCTURED_CONTENT_TYPE.encode()
            message = KafkaMessage(dict(record["headers"]), record["key"], record["raw"])
            parsed = from_kafka(message, JSONFormat())
            assert parsed.get_id() == record["value"]["id"]
            assert parsed.get_data() == record["value"]["data"]
