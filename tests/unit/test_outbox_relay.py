"""The outbox relay without servers: staged events are published byte for byte and
cleared at the version published; one the broker can never accept is quarantined and
the rest still flow; a broker away leaves every outbox for the next sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from schemas.report import OutboxEntry, Report
from tests.fakes import Shell

pytestmark = pytest.mark.unit

TOPIC = "lmp.report-events.v1"


def entry(event_id: str) -> OutboxEntry:
    return OutboxEntry(id=event_id, topic=TOPIC, key="P:2026-10", value=f'{{"id":"{event_id}"}}')


async def staged(shell: Shell, rid: str, *ids: str, age: timedelta = timedelta(0)) -> Report:
    """A report written with ``ids`` in its outbox, committed ``age`` ago."""
    report = Report.model_validate(
        {
            "_id": rid,
            "partner_id": rid.split(":")[0],
            "cycle": "2026-10",
            "version": 1,
            "created_at": shell.now,
            "updated_at": shell.now,
        }
    )
    outbox = shell.runtime("relay").outbox
    report = outbox.stage(report, [entry(i) for i in ids], shell.now - age)
    assert await shell.store.save_reports([(report, None)]) == set()
    return report


async def test_staged_events_are_published_byte_for_byte_then_cleared() -> None:
    shell = Shell()
    first = await staged(shell, "A:2026-10", "a1", "a2")
    second = await staged(shell, "B:2026-10", "b1")
    published = await shell.runtime("relay").outbox.drain([first, second])
    assert published == 3
    assert shell.producer.sent == [
        (TOPIC, b"P:2026-10", e.value.encode()) for e in [*first.outbox, *second.outbox]
    ]
    for rid in ("A:2026-10", "B:2026-10"):
        report = await shell.store.load_report(rid)
        assert report is not None
        assert (report.outbox, report.outbox_since) == ([], None)


async def test_an_event_the_broker_never_accepts_is_quarantined_and_the_rest_flow() -> None:
    shell = Shell()
    report = await staged(shell, "A:2026-10", "ok1", "huge", "ok2")
    shell.producer.refuse = lambda _t, _k, v: (
        MessageSizeTooLargeError() if b"huge" in (v or b"") else None
    )
    await shell.runtime("relay").outbox.drain([report])
    assert [value for _, _, value in shell.producer.sent] == [
        b'{"id":"ok1"}',
        b'{"id":"ok2"}',
    ]
    [(held, reason)] = await shell.store.quarantined()
    assert held == entry("huge")
    assert "MessageSizeTooLarge" in reason
    stored = await shell.store.load_report("A:2026-10")
    assert stored is not None
    assert stored.outbox == []


async def test_a_broker_away_raises_and_leaves_the_outbox_for_the_sweep() -> None:
    shell = Shell()
    report = await staged(shell, "A:2026-10", "e1", "e2", age=timedelta(minutes=5))
    await staged(shell, "B:2026-10", "fresh")  # committed just now: its own writer relays it
    outbox = shell.runtime("relay").outbox
    shell.producer.refuse = lambda _t, _k, _v: KafkaConnectionError()
    with pytest.raises(KafkaConnectionError):
        await outbox.drain([report])
    stored = await shell.store.load_report("A:2026-10")
    assert stored is not None
    assert [e.id for e in stored.outbox] == ["e1", "e2"]
    shell.producer.refuse = lambda _t, _k, _v: None
    assert await outbox.sweep(shell.now, grace=timedelta(minutes=1)) == 2
    assert [v for _, _, v in shell.producer.sent] == [b'{"id":"e1"}', b'{"id":"e2"}']
    assert await outbox.sweep(shell.now, grace=timedelta(minutes=1)) == 0
    assert await shell.store.quarantined() == []


async def test_a_report_that_moved_on_keeps_the_events_staged_since() -> None:
    shell = Shell()
    report = await staged(shell, "A:2026-10", "e1")
    outbox = shell.runtime("relay").outbox
    moved = outbox.stage(report.model_copy(update={"version": 2}), [entry("e2")], shell.now)
    assert await shell.store.save_reports([(moved, 1)]) == set()
    await outbox.drain([report])  # the relay publishes the version it read
    stored = await shell.store.load_report("A:2026-10")
    assert stored is not None
    assert [e.id for e in stored.outbox] == ["e1", "e2"]
