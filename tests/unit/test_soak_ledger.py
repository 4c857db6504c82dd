"""The soak's end check without servers (benchmarks/soak_ledger.py): a usage snapshot
whose effect is missing is lost, a figure never sent is a contradiction, and an action
is answered once, as expected, and published as recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks.soak_ledger import UsageSent, account_for_actions, digest

pytestmark = pytest.mark.unit


Sub = tuple[str, str, str]


def reports_holding(peaks: dict[Sub, tuple[int, int]]) -> list[dict[str, Any]]:
    """Report documents as the store keeps them, holding ``peaks`` per subscription."""
    docs: dict[str, dict[str, Any]] = {}
    for (partner, product, sub), (prov, used) in sorted(peaks.items()):
        doc = docs.setdefault(partner, {"partner_id": partner, "lines": []})
        line = next((ln for ln in doc["lines"] if ln["product_id"] == product), None)
        if line is None:
            line = {"product_id": product, "provisioned_units": 0, "used_units": 0}
            line["subscriptions"] = []
            doc["lines"].append(line)
        line["subscriptions"].append(
            {"subscription_id": sub, "provisioned_units": prov, "used_units": used}
        )
        line["provisioned_units"] += prov
        line["used_units"] += used
    return list(docs.values())


def test_usage_is_rising_per_subscription_and_copies_repeat_an_earlier_message() -> None:
    sent = UsageSent(partners=3, cycle="2026-12")
    records = [sent.next() for _ in range(600)]
    assert sent.count == 600
    assert 0 < sent.copies < 40
    values = [json.loads(value) for _, _, value in records]
    assert len({v["id"] for v in values}) == 600 - sent.copies  # a copy keeps its id
    by_sub: dict[Sub, list[int]] = {}
    for v in values:
        d = v["data"]
        by_sub.setdefault((d["partner_id"], d["product_id"], d["subscription_id"]), []).append(
            d["provisioned_units"]
        )
    assert len(by_sub) == 12
    for sub, provisioned in by_sub.items():
        assert max(provisioned) == sent.peaks[sub][0]


def test_reports_holding_every_peak_lose_nothing() -> None:
    sent = UsageSent(partners=2, cycle="2026-12")
    for _ in range(200):
        sent.next()
    assert sent.account_for(reports_holding(sent.peaks)) == (0, 0, [])


def test_a_peak_missing_loses_the_messages_above_what_is_held() -> None:
    sent = UsageSent(partners=2, cycle="2026-12")
    for _ in range(200):
        sent.next()
    sub = next(iter(sent.peaks))
    provs, useds = sent.sent[sub]
    held = dict(sent.peaks)
    held[sub] = (provs[0], useds[0])  # only its first snapshot applied
    lost, contradicted, problems = sent.account_for(reports_holding(held))
    above = sum(p > provs[0] or u > useds[0] for p, u in zip(provs, useds, strict=True))
    assert lost == above > 0
    assert contradicted == 0
    assert any(str(sub) in p for p in problems)


def test_a_figure_above_every_snapshot_sent_is_a_contradiction() -> None:
    sent = UsageSent(partners=1, cycle="2026-12")
    for _ in range(40):
        sent.next()
    sub = next(iter(sent.peaks))
    held = dict(sent.peaks)
    held[sub] = (held[sub][0] + 1, held[sub][1])
    lost, contradicted, _ = sent.account_for(reports_holding(held))
    assert (lost, contradicted) == (0, 1)


def answer(outcome: str, *events: tuple[str, bytes]) -> dict[str, Any]:
    return {"outcome": outcome, "events": {event_id: digest(raw) for event_id, raw in events}}


def test_each_action_is_answered_once_as_expected_and_published_as_recorded() -> None:
    saved = ("R1/draft-saved/a1", b'{"id": "R1/draft-saved/a1"}')
    refused = ("R2/action-rejected/a2", b'{"id": "R2/action-rejected/a2"}')
    payloads = {saved[0]: {digest(saved[1])}, refused[0]: {digest(refused[1])}}
    answers = {"a1": [answer("applied", saved)], "a2": [answer("refused", refused)]}
    counts, problems = account_for_actions({"a1": "applied", "a2": "refused"}, answers, payloads)
    assert problems == []
    assert (counts.sent, counts.applied, counts.refused, counts.lost) == (2, 1, 1, 0)
    assert (counts.contradictory, counts.duplicate_id_different_payload) == (0, 0)


def test_an_action_unanswered_answered_twice_or_published_otherwise_is_counted() -> None:
    saved = ("R1/draft-saved/a1", b"one")
    payloads = {saved[0]: {digest(saved[1]), digest(b"another")}}
    answers = {
        "a1": [answer("applied", saved)],
        "a2": [answer("applied"), answer("refused")],
        "a3": [answer("applied", ("R3/draft-saved/a3", b"never published"))],
    }
    expected = {"a1": "applied", "a2": "applied", "a3": "applied", "a4": "refused"}
    counts, problems = account_for_actions(expected, answers, payloads)
    assert counts.lost == 1  # a4
    assert counts.contradictory == 2  # a2 answered twice, a3 recorded but not published
    assert counts.duplicate_id_different_payload == 1  # a1's event under two payloads
    assert len(problems) == 4
