"""``lmp-billing example``: valid events, in the current cycle, that belong together."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator

from schemas.report import ReportStatus, SubmissionKind
from services.adapters import contract
from services.adapters.catalogue import Catalogue
from services.adapters.codec import Decoded, InboundMessage, decode
from services.api.views import billing_report
from services.cli import main
from services.domain.calendar import cycle_of
from services.processors import accounts, actions, pricing, usage
from services.processors.timer import DeadlineTimer
from services.settings import PROJECT_ROOT
from tests.fakes import Shell

pytestmark = pytest.mark.unit

CATALOGUE = Catalogue.load(PROJECT_ROOT / "topics.yaml")
INBOUND = contract.inbound_types(CATALOGUE)
SPECS = {
    spec.topics[0]: spec
    for spec in (
        usage.PROCESSOR,
        accounts.PROCESSOR,
        pricing.PROCESSOR,
        actions.PARTNER_ACTIONS,
        actions.DISTRIBUTOR_ACTIONS,
        actions.TRENDMICRO_RESPONSES,
    )
}
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T")


def printed(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["example", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_without_a_type_or_with_list_the_inbound_types_are_listed_with_their_topics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in ((), ("--list",)):
        status, out, _ = printed(capsys, *argv)
        assert status == 0
        assert [line.split()[0] for line in out.splitlines()] == INBOUND
        assert ["lmp.usage.reported", "lmp.usage.v1"] in [line.split() for line in out.splitlines()]


def test_an_unknown_type_exits_2_naming_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = printed(capsys, "lmp.report.opened")
    assert (status, out) == (2, "")
    assert "not an inbound type" in err
    assert all(t in err for t in INBOUND)
    assert printed(capsys, "lmp.usage.reported", "--cycle", "2026-13")[0] == 2


@pytest.mark.parametrize("message_type", INBOUND)
def test_each_printed_example_is_one_line_valid_for_its_schema_and_decoded(
    capsys: pytest.CaptureFixture[str], message_type: str
) -> None:
    status, out, _ = printed(capsys, message_type)
    assert status == 0
    assert out.count("\n") == 1
    event = json.loads(out)
    schema = json.loads((PROJECT_ROOT / "schemas/json" / f"{message_type}.json").read_text())
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(event)
    topic = CATALOGUE.topic_for_type(message_type)
    record = InboundMessage(topic, 0, 0, contract.record_key(event).encode(), out.encode())
    assert isinstance(decode(record, frozenset(CATALOGUE[topic].types)), Decoded)
    cycle = cycle_of(datetime.now(UTC))
    assert event["data"].get("cycle", cycle) == cycle
    assert str(event["data"].get("report_id", cycle)).endswith(cycle)


def test_a_printed_example_is_the_schemas_example_moved_to_the_cycle_asked_for() -> None:
    schema = json.loads((PROJECT_ROOT / "schemas/json/lmp.usage.reported.json").read_text())
    now = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert contract.current_example("lmp.usage.reported", now) == schema["examples"][0]
    moved = contract.current_example("lmp.usage.reported", now, "2027-02")
    assert moved["data"]["cycle"] == "2027-02"
    assert moved["subject"] == "P-1001:2027-02"
    assert moved["id"] != schema["examples"][0]["id"]


def test_every_time_in_an_example_is_filled_in_at_print_time() -> None:
    """A new date-time in an example must get a rule in ``FRESH_TIMES``, or it would rot."""
    for message_type in INBOUND:
        data = contract.example_event(message_type)["data"]
        times = {k for k, v in data.items() if isinstance(v, str) and RFC3339.match(v)}
        assert times <= set(contract.FRESH_TIMES), message_type


async def walk(shell: Shell, cycle: str | None = None) -> list[dict[str, Any]]:
    """Publish the example walk, as printed at the shell's time, through the processors."""
    events = []
    for message_type in contract.EXAMPLE_WALK:
        event = contract.current_example(message_type, shell.now, cycle)
        events.append(event)
        topic = CATALOGUE.topic_for_type(message_type)
        spec = SPECS[topic]
        record = (contract.record_key(event).encode(), json.dumps(event).encode())
        poisons = await spec.handler(shell.runtime(spec.name)).handle(
            [shell.message(topic, record)]
        )
        assert poisons == [], poisons
    return events


@pytest.mark.parametrize(
    "now",
    [
        datetime.now(UTC),
        datetime(2031, 2, 27, 23, 59, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    ],
    ids=["today", "in-five-years", "first-of-a-month"],
)
async def test_the_example_walk_opens_and_prices_one_report_whenever_it_is_printed(
    now: datetime,
) -> None:
    shell = Shell(now=now)
    events = await walk(shell)
    report_id = f"P-1001:{cycle_of(now)}"
    assert {e["subject"] for e in events if e["type"].startswith("lmp.partner.")} == {report_id}
    # An hour later the timer has looked at it: nothing is due, nothing is auto-submitted.
    shell.now = now + timedelta(hours=1)
    assert await DeadlineTimer(shell.runtime("timer")).tick() == (0, 0)
    report = await shell.store.load_report(report_id)
    assert report is not None
    assert report.deadline is not None
    assert report.deadline > shell.now
    assert (report.status, report.submission_kind) == (
        ReportStatus.UNDER_REVIEW,
        SubmissionKind.MANUAL,
    )
    shown = billing_report(report, "en", ZoneInfo("UTC"))
    assert (shown.partner_id, shown.distributor_id, shown.currency) == ("P-1001", "D-EMEA", "EUR")
    [line] = shown.lines
    assert (line.product_id, line.provisioned_units, line.chargeable_units) == ("TM-WFBS", 25, 25)
    assert (str(line.unit_price), str(line.channel_margin), str(line.subtotal)) == (
        "10.00",
        "0.20",
        "200.00",
    )
    assert str(shown.total_amount) == "200.00"


async def test_a_fixed_past_cycle_would_rot_which_is_why_the_current_one_is_printed() -> None:
    """The same walk pinned to a cycle past its deadline: the timer submits the report
    before the partner can (what a fixed date in the examples would do)."""
    shell = Shell(now=datetime(2027, 3, 15, tzinfo=UTC))
    for message_type in contract.EXAMPLE_WALK[:-1]:
        event = contract.current_example(message_type, shell.now, "2026-11")
        topic = CATALOGUE.topic_for_type(message_type)
        spec = SPECS[topic]
        record = (contract.record_key(event).encode(), json.dumps(event).encode())
        await spec.handler(shell.runtime(spec.name)).handle([shell.message(topic, record)])
    assert (await DeadlineTimer(shell.runtime("timer")).tick())[0] == 1
    report = await shell.store.load_report("P-1001:2026-11")
    assert report is not None
    assert report.submission_kind is not SubmissionKind.MANUAL
