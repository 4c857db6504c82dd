"""An answer, once given, is final: redeliveries get the recorded answer, byte for byte.

Processors run as processes; redelivery is simulated the way Kafka does it — the same
record bytes on the topic again — after the report changed in between.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.harness import System, eventually
from tests.scenario import PRODUCT_A, Month

pytestmark = pytest.mark.e2e

PROCESSORS = ("usage", "accounts", "pricing", "partner-actions", "distributor-actions")


async def copies(system: System, topic: str, event_id: str, count: int) -> list[bytes]:
    """Wait until ``event_id`` is on ``topic`` at least ``count`` times; its raw values."""

    async def found() -> list[bytes] | None:
        values = [
            r["raw"]
            for r in await system.read_all(topic)
            if r["value"] is not None and r["value"]["id"] == event_id
        ]
        return values if len(values) >= count else None

    values: list[bytes] = await eventually(found)
    return values


async def decision(system: System, doc: dict[str, Any], action_id: str) -> dict[str, Any]:
    """The recorded answer as a redelivery looks it up: in the report, then among the
    answers moved out of it, then among refusals (docs/bounded-reports.md)."""
    found = [d for d in doc["decisions"] if d["message_id"] == action_id]
    for kept in (system.store.answers, system.store.outcomes):
        if not found:
            docs = await kept.find({"decision.message_id": action_id}).to_list(None)
            found = [d["decision"] for d in docs]
    assert len(found) == 1, found
    answer: dict[str, Any] = found[0]
    return answer


async def test_a_refusal_is_the_answer_for_good_even_after_the_report_changed(
    running: System,
) -> None:
    month = Month(running)
    await month.open(datetime.now(UTC))
    submit_id, submit = month.action("lmp.partner.report-submitted", month.partner)
    await running.publish("lmp.partner-actions.v1", [submit])
    assert "unexplained" in await month.refusal(submit_id)
    refusal_id = f"{month.report_id}/action-rejected/{submit_id}"
    [first] = await copies(running, "lmp.report-events.v1", refusal_id, 1)

    # The report changes so that the same submission would now be allowed...
    explain = await month.partner_does(
        "draft-saved", {"lines": [{"product_id": PRODUCT_A, "comment": "explained"}]}
    )
    await month.event_caused_by(explain, "lmp.report.draft-saved")
    # ...and the very same record arrives again (a crash before the commit, a replay).
    await running.publish("lmp.partner-actions.v1", [submit])
    again = await copies(running, "lmp.report-events.v1", refusal_id, 2)
    assert set(again) == {first}, "the redelivery must get the recorded answer byte for byte"
    doc = await month.report()
    assert doc is not None
    assert doc["status"] == "msp_preparing"
    assert (await decision(running, doc, submit_id))["outcome"] == "refused"
    assert doc["decisions"] == [d for d in doc["decisions"] if d["outcome"] == "applied"]
    assert not [e for e in await month.events() if e["type"] == "lmp.report.submitted"]


async def test_an_applied_action_redelivered_later_is_answered_the_same(running: System) -> None:
    month = Month(running)
    await month.open(datetime.now(UTC))
    draft_id, draft = month.action(
        "lmp.partner.report-submitted",
        month.partner,
        {"lines": [{"product_id": PRODUCT_A, "comment": "explained"}]},
    )
    await running.publish("lmp.partner-actions.v1", [draft])
    event_id = f"{month.report_id}/submitted/{draft_id}"
    [first] = await copies(running, "lmp.report-events.v1", event_id, 1)
    await month.distributor_does("report-rejected", {"reasons": ["check A"]})
    await month.report_where(lambda r: r["status"] == "rejected")
    await running.publish("lmp.partner-actions.v1", [draft])
    again = await copies(running, "lmp.report-events.v1", event_id, 2)
    assert set(again) == {first}
    doc = await month.report()
    assert doc is not None
    assert doc["status"] == "rejected"


async def test_an_action_on_a_missing_report_stays_refused_once_the_report_exists(
    running: System,
) -> None:
    month = Month(running)
    early_id, early = month.action(
        "lmp.partner.draft-saved",
        month.partner,
        {"lines": [{"product_id": PRODUCT_A, "comment": "too early"}]},
    )
    await running.publish("lmp.partner-actions.v1", [early])
    assert "does not exist" in await month.refusal(early_id)
    refusal_id = f"{month.report_id}/action-rejected/{early_id}"
    [first] = await copies(running, "lmp.report-events.v1", refusal_id, 1)

    await month.open(datetime.now(UTC))
    await running.publish("lmp.partner-actions.v1", [early])
    again = await copies(running, "lmp.report-events.v1", refusal_id, 2)
    assert set(again) == {first}
    doc = await month.report()
    assert doc is not None
    assert (await decision(running, doc, early_id))["outcome"] == "refused"
    assert all(line["partner_comment"] is None for line in doc["lines"])


async def test_an_event_the_broker_can_never_accept_is_quarantined_and_the_rest_flows(
    running: System,
) -> None:
    month = Month(running)
    await month.open(datetime.now(UTC))
    submissions = running.topic("lmp.trendmicro-submissions.v1")
    admin = AIOKafkaAdminClient(bootstrap_servers=running.servers.bootstrap_servers)
    await admin.start()
    try:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, submissions, {"max.message.bytes": "1024"})]
        )
        submit = await month.partner_does(
            "report-submitted", {"lines": [{"product_id": PRODUCT_A, "comment": "ok"}]}
        )
        await month.event_caused_by(submit, "lmp.report.submitted")
        to_tm = await month.distributor_does("submitted-to-trendmicro", {"po_number": "PO-1"})
        await month.event_caused_by(to_tm, "lmp.report.submitted-to-trendmicro")
        billing_id = f"{month.report_id}/billing-submitted/{to_tm}"

        async def quarantined() -> list[Any] | None:
            held = await running.store.quarantined()
            return [e for e, _ in held if e.id == billing_id] or None

        [held] = await eventually(quarantined)
        assert held.topic == submissions
        reason = {e.id: r for e, r in await running.store.quarantined()}[billing_id]
        assert "TooLarge" in reason
        doc = await month.report_where(lambda r: not r["outbox"])
        assert doc["status"] == "submitted_to_trendmicro"
        # The line keeps moving: the next report's actions are applied as usual.
        other = Month(running)
        await other.open(datetime.now(UTC))
        later = await other.partner_does(
            "draft-saved", {"lines": [{"product_id": PRODUCT_A, "comment": "fine"}]}
        )
        await other.event_caused_by(later, "lmp.report.draft-saved")
    finally:
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC, submissions, {"max.message.bytes": "1048576"}
                )
            ]
        )
        await admin.close()
