"""Outbound event ids fit the envelope whatever the inbound id that caused them.

An inbound id may be 300 characters (the envelope's bound); the outbound id prefixes it
with the report's id and the event's kind. Before the digest, such an action was dead
lettered as a processing error instead of being answered.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.envelope import CloudEvent
from services.domain.ids import EVENT_ID_MAX, event_id
from tests.builders import action
from tests.fakes import Shell
from tests.unit.in_memory import EVENTS, handle, open_report

pytestmark = pytest.mark.unit

LONGEST_REPORT_ID = "P" * 200 + ":2026-10"  # an Identifier (200) and a cycle
KINDS = ["action-rejected", "billing-submitted", "penalty-assessed", "usage-report-reviewed"]
causes = st.one_of(st.text(min_size=1, max_size=40), st.text(min_size=200, max_size=300))


def test_the_bound_is_the_envelopes() -> None:
    [bound] = [
        m.max_length for m in CloudEvent.model_fields["id"].metadata if hasattr(m, "max_length")
    ]
    assert bound == EVENT_ID_MAX


@given(cause=causes, kind=st.sampled_from(KINDS))
def test_every_id_fits_and_short_ones_are_the_cause_itself(cause: str, kind: str) -> None:
    made = event_id(LONGEST_REPORT_ID, kind, cause)
    assert len(made) <= EVENT_ID_MAX
    assert event_id(LONGEST_REPORT_ID, kind, cause) == made  # deterministic
    short = event_id("P:2026-10", kind, cause[:100])
    assert short == f"P:2026-10/{kind}/{cause[:100]}"


@given(first=causes, second=causes)
def test_two_causes_never_share_an_id(first: str, second: str) -> None:
    if first != second:
        assert event_id(LONGEST_REPORT_ID, "x", first) != event_id(LONGEST_REPORT_ID, "x", second)


@pytest.mark.parametrize(
    ("type_", "data"),
    [
        ("lmp.partner.draft-saved", {"lines": [{"product_id": "AV", "comment": "c"}]}),
        ("lmp.partner.report-submitted", {"lines": [{"product_id": "AV"}]}),
    ],
)
async def test_an_action_with_the_longest_id_is_answered_not_dead_lettered(
    type_: str, data: dict[str, Any]
) -> None:
    shell = Shell()
    await open_report(shell)
    long_id = "a" * EVENT_ID_MAX
    poisons = await handle(shell, "partner-actions", action(type_, "P", "P", id_=long_id, **data))
    assert poisons == []
    answers = [
        json.loads(value)
        for topic, _key, value in shell.producer.sent
        if topic.endswith(EVENTS) and value and long_id.encode() in value
    ]
    assert answers  # applied or refused: either way its answer names the action
    for event in answers:
        assert len(event["id"]) <= EVENT_ID_MAX
        CloudEvent[dict[str, object]].model_validate(event)
