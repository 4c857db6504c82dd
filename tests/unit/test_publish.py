"""``lmp-billing publish``: every line checked as the processors decode it, keyed as
topics.yaml says, and nothing sent when one line is refused."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import to_structured_event
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from schemas.envelope import CloudEvent
from services.adapters.catalogue import Catalogue
from services.cli import main
from services.ops.publishing import InvalidInput, check_events, inbound_topic
from services.settings import PROJECT_ROOT
from tests import builders
from tests.harness import cloud_event

pytestmark = pytest.mark.unit

CATALOGUE = Catalogue.load(PROJECT_ROOT / "topics.yaml")
USAGE = "lmp.usage.v1"


@pytest.fixture(autouse=True)
def no_servers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No broker anywhere: a command that reached for one would say so (exit 2)."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("LMP_HOME", str(tmp_path))


def value(record: tuple[bytes | None, bytes | None]) -> bytes:
    assert record[1] is not None
    return record[1]


@pytest.mark.parametrize(
    ("topic", "record", "key"),
    [
        (USAGE, builders.usage("P1", sub="s1", provisioned=3, used=2, id_="u1"), "P1"),
        ("lmp.accounts.v1", builders.partner_account("P7", days=3), "P7"),
        ("lmp.accounts.v1", builders.region("EMEA", True), "region/EMEA"),
        ("lmp.pricing.v1", builders.price("AV"), "EMEA/AV"),
        ("lmp.pricing.v1", builders.promotion("BD-1"), "BD-1"),
        (
            "lmp.partner-actions.v1",
            builders.action("lmp.partner.report-submitted", "P1", "P1", id_="a1"),
            "P1:2026-10",
        ),
    ],
)
def test_each_event_gets_the_key_topics_yaml_names(
    topic: str, record: tuple[bytes | None, bytes | None], key: str
) -> None:
    """The keys the upstream systems use (as the tests' records and the demo have them)."""
    assert record[0] == key.encode()
    events, refusals = check_events(CATALOGUE, topic, [value(record)])
    assert refusals == []
    [event] = events
    assert (event.key, event.value, event.line) == (key, value(record), 1)
    assert event.id == json.loads(value(record))["id"]


def test_distributor_accounts_are_keyed_by_distributor() -> None:
    line = cloud_event(
        "lmp.account.distributor", {"distributor_id": "D1", "name": "Dist", "region": "EMEA"}
    )
    [event], _ = check_events(CATALOGUE, "lmp.accounts.v1", [line])
    assert event.key == "D1"


def test_blank_lines_are_skipped_and_lines_keep_their_numbers() -> None:
    lines = [
        b"",
        value(builders.usage("P1", sub="s1", provisioned=1, used=1, id_="u1")),
        b"   ",
        b"{",
        b"\r",
    ]
    events, refusals = check_events(CATALOGUE, USAGE, lines)
    assert [e.line for e in events] == [2]
    assert [(r.line, r.reason.split(":")[0]) for r in refusals] == [(4, "parse")]


def test_refusals_name_the_line_and_the_decoders_reason() -> None:
    usage = json.loads(value(builders.usage("P1", sub="s1", provisioned=1, used=1, id_="u1")))
    negative = {**usage, "data": {**usage["data"], "provisioned_units": -1}}
    no_source = {k: v for k, v in usage.items() if k != "source"}
    action = value(builders.action("lmp.partner.draft-saved", "P1", "P1", id_="a1"))
    lines = [json.dumps(negative).encode(), json.dumps(no_source).encode(), action, b"\xff"]

    events, refusals = check_events(CATALOGUE, USAGE, lines)

    assert events == []
    said = [str(r) for r in refusals]
    assert said[0].startswith("line 1: schema: lmp.usage.reported: provisioned_units: ")
    assert said[1].startswith("line 2: schema: not a CloudEvent: ")
    assert "source" in said[1]
    assert said[2] == (
        "line 3: unknown_type: type 'lmp.partner.draft-saved' is not carried by lmp.usage.v1 "
        "(it goes to lmp.partner-actions.v1)"
    )
    assert said[3].startswith("line 4: parse: not UTF-8")
    assert len(said) == 4


def test_a_line_larger_than_the_topic_takes_is_refused() -> None:
    usage = json.loads(value(builders.usage("P1", sub="s1", provisioned=1, used=1, id_="u1")))
    huge = json.dumps({**usage, "padding": "x" * 1_100_000}).encode()
    _, [refusal] = check_events(CATALOGUE, USAGE, [huge])
    assert "more than the topic's max.message.bytes (1048576)" in refusal.reason


def test_only_inbound_topics_of_the_catalogue_take_events() -> None:
    assert inbound_topic(CATALOGUE, USAGE) == USAGE
    with pytest.raises(InvalidInput, match=r"lmp\.report-events\.v1 is an outbound topic"):
        inbound_topic(CATALOGUE, "lmp.report-events.v1")
    with pytest.raises(InvalidInput, match=r"unknown topic 'lmp\.usage'"):
        inbound_topic(CATALOGUE, "lmp.usage")
    namespaced = Catalogue.load(PROJECT_ROOT / "topics.yaml", namespace="t1.")
    assert inbound_topic(namespaced, USAGE) == "t1.lmp.usage.v1"


def test_events_of_the_cloudevents_sdk_and_of_our_model_are_accepted() -> None:
    """Structured mode as another producer writes it, and as ``lmp-billing example`` does
    (the envelope model's JSON)."""
    data: dict[str, Any] = json.loads(
        value(builders.usage("P1", sub="s1", provisioned=1, used=1, id_="u1"))
    )["data"]
    sdk = SdkEvent(
        {
            "type": "lmp.usage.reported",
            "source": "provisioning",
            "id": "sdk-1",
            "time": datetime(2026, 10, 15, 8, tzinfo=UTC),
        },
        data,
    )
    sdk_body = to_structured_event(sdk).value
    ours = CloudEvent[dict[str, Any]](
        id="model-1",
        source="lmp-billing/example",
        type="lmp.usage.reported",
        time=datetime(2026, 10, 15, tzinfo=UTC),
        data=data,
    ).model_dump_json()

    events, refusals = check_events(CATALOGUE, USAGE, [sdk_body, ours.encode()])

    assert refusals == []
    assert [(e.id, e.key) for e in events] == [("sdk-1", "P1"), ("model-1", "P1")]


# the command -------------------------------------------------------------------


def stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_one_refused_line_and_nothing_is_published(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = value(builders.usage("P1", sub="s1", provisioned=1, used=1, id_="u1"))
    stdin(monkeypatch, good + b"\n\nnot json\n" + good + b"\n")

    assert main(["publish", USAGE, "-"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "lmp-billing publish: line 3: parse: not JSON" in captured.err
    assert "1 line(s) refused; nothing published" in captured.err
    assert "KAFKA_BOOTSTRAP_SERVERS" not in captured.err  # refused before any broker


def test_valid_input_then_needs_a_broker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stdin by default; checked, then the broker is looked for (none here: exit 2)."""
    stdin(
        monkeypatch, value(builders.usage("P1", sub="s1", provisioned=1, used=1, id_="u1")) + b"\n"
    )
    assert main(["publish", USAGE]) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS is not set" in capsys.readouterr().err


def test_usage_errors_of_publish(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(value(builders.usage("P1", sub="s1", provisioned=1, used=1, id_="u1")))
    assert main(["publish", "lmp.penalties.v1", str(events)]) == 2
    assert "is an outbound topic" in capsys.readouterr().err
    assert main(["publish", USAGE, str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["publish"]) == 2
    assert "Missing argument 'TOPIC'" in capsys.readouterr().err


def test_empty_input_publishes_nothing_and_succeeds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin(monkeypatch, b"\n  \n")
    assert main(["publish", USAGE, "-"]) == 0
    assert "no events in the input" in capsys.readouterr().err
