"""The examples `lmp-billing example` prints, published to their topics as they are, open and
price one billing report over the real broker and database, processors as processes.

The walk the README's five-minute tour takes (contract.EXAMPLE_WALK): distributor, partner
and region accounts, a list price, a usage snapshot, then the partner's submission (list
prices are applied when the partner submits). A timer pass on the real clock sits between
usage and submission: were the examples dated in a cycle already past its deadline, it
would submit the report itself and this test would say so.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas.report import Report, ReportStatus, SubmissionKind
from services.adapters import contract
from services.api.views import billing_report
from services.cli import main
from services.domain.calendar import cycle_of
from services.processors.timer import DeadlineTimer
from tests.harness import System, eventually

pytestmark = pytest.mark.e2e

PROCESSORS = ("usage", "accounts", "pricing", "partner-actions")


def printed(capsys: pytest.CaptureFixture[str], message_type: str) -> tuple[bytes, bytes]:
    """``lmp-billing example TYPE``'s line, and the key it is published under."""
    assert main(["example", message_type]) == 0
    line = capsys.readouterr().out
    assert line.count("\n") == 1
    return contract.record_key(json.loads(line)).encode(), line.strip().encode()


async def publish(system: System, capsys: pytest.CaptureFixture[str], message_type: str) -> None:
    topic = system.catalogue.contract_name(system.catalogue.topic_for_type(message_type))
    await system.publish(topic, [printed(capsys, message_type)])


async def test_the_printed_examples_open_one_report_the_read_api_shows_priced(
    running: System, capsys: pytest.CaptureFixture[str]
) -> None:
    report_id = f"{contract.EXAMPLE_PARTNER}:{cycle_of(datetime.now(UTC))}"
    store = running.store

    async def stored(check: Any) -> Report | None:
        doc = await store.reports.find_one({"_id": report_id})
        report = Report.from_document(doc) if doc is not None else None
        return report if report is not None and check(report) else None

    *upstream, submission = contract.EXAMPLE_WALK
    for message_type in upstream:
        await publish(running, capsys, message_type)
    opened = await eventually(lambda: stored(lambda r: not r.account_pending and r.lines))
    assert opened is not None
    assert (opened.status, opened.distributor_id, opened.region) == (
        ReportStatus.MSP_PREPARING,
        "D-EMEA",
        "EMEA",
    )
    await eventually(lambda: store.prices.find_one({"region": "EMEA", "product_id": "TM-WFBS"}))

    timer = DeadlineTimer(await running.runtime("timer", lambda: datetime.now(UTC)))
    assert await timer.tick() == (0, 0), "the example's cycle is already past its deadline"

    await publish(running, capsys, submission)
    report = await eventually(lambda: stored(lambda r: r.status is ReportStatus.UNDER_REVIEW))
    assert report is not None
    assert report.submission_kind is SubmissionKind.MANUAL
    assert report.deadline is not None
    assert report.deadline > datetime.now(UTC)

    shown = billing_report(report, "en", ZoneInfo("UTC"))
    assert (shown.report_id, shown.partner_id, shown.currency) == (report_id, "P-1001", "EUR")
    [line] = shown.lines
    assert (line.product_id, line.provisioned_units, line.chargeable_units) == ("TM-WFBS", 25, 25)
    assert (str(line.list_unit_price), str(line.unit_price), str(line.subtotal)) == (
        "10.00",
        "10.00",
        "200.00",
    )
    assert str(shown.total_amount) == "200.00"
    dead = await running.read_all("lmp.dead-letter.v1")
    assert dead == [], [letter["value"]["data"]["error"] for letter in dead]
