"""The outbox relay without servers: staged events are published byte for byte and
cleared at the version published; one the broker can never accept is quarantined and
the rest still flow; a broker away leaves every outbox for the next sweep. A processor
marks what it published and clears it later, unless the report's next write, by any
processor, drops it first: one write of the report per change, no event sent twice."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from schemas.report import OutboxEntry, Report
from services.adapters.publisher import Outbox, Publisher, outbox_digest
from services.runtime.batch_runner import BatchRunner
from tests.builders import action
from tests.fakes import Shell
from tests.unit.in_memory import EXPLAINED, REPORT, handle, open_report

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


class Monotonic:
    """The outbox's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


def deferring(shell: Shell, clock: Monotonic) -> Outbox:
    """An outbox that clears what it published after 5 s, as a processor's does."""
    publisher = Publisher(lambda: shell.producer)
    return Outbox(
        shell.store,
        publisher,
        shell.catalogue,
        "lmp-billing/test",
        1_000_000,
        clear_after_seconds=5,
        monotonic=clock,
    )


async def outbox_ids(shell: Shell, rid: str) -> list[str]:
    stored = await shell.store.load_report(rid)
    assert stored is not None
    return [e.id for e in stored.outbox]


async def test_a_published_outbox_is_marked_at_once_and_cleared_after_the_delay() -> None:
    shell, clock = Shell(), Monotonic()
    outbox = deferring(shell, clock)
    a = await staged(shell, "A:2026-10", "a1")
    b = await staged(shell, "B:2026-10", "b1", "b2")
    assert await outbox.drain([a, b], defer_clear=True) == 3
    assert await outbox.published_among([a, b]) == {a.id, b.id}
    elsewhere = deferring(shell, Monotonic())  # another process: by the markers
    assert await elsewhere.published_among([a, b]) == {a.id, b.id}
    clock.seconds = 4.9
    assert await outbox.clear_published() == 0
    assert await outbox_ids(shell, a.id) == ["a1"]
    clock.seconds = 5.0
    assert await outbox.clear_published() == 2
    assert await outbox_ids(shell, a.id) == []
    assert await outbox_ids(shell, b.id) == []
    assert [v for _, _, v in shell.producer.sent] == [
        b'{"id":"a1"}',
        b'{"id":"b1"}',
        b'{"id":"b2"}',
    ]


async def test_a_marker_names_one_outbox_and_the_sweep_publishes_only_unmarked_ones() -> None:
    shell = Shell()
    outbox = deferring(shell, Monotonic())
    marked = await staged(shell, "A:2026-10", "a1", age=timedelta(minutes=5))
    other = await staged(shell, "B:2026-10", "b1", age=timedelta(minutes=5))
    await shell.store.mark_published(
        [(marked.id, outbox_digest(marked.outbox)), (other.id, outbox_digest([entry("b0")]))]
    )
    assert await outbox.published_among([marked, other]) == {marked.id}
    assert await outbox.sweep(shell.now, grace=timedelta(minutes=1)) == 1
    assert [v for _, _, v in shell.producer.sent] == [b'{"id":"b1"}']
    assert await outbox_ids(shell, marked.id) == []
    assert await outbox_ids(shell, other.id) == []


async def test_a_marker_lost_to_a_crash_costs_a_copy_never_an_event() -> None:
    shell = Shell()
    outbox = deferring(shell, Monotonic())
    report = await staged(shell, "A:2026-10", "a1", age=timedelta(minutes=5))

    async def crash(_marks: object) -> None:
        raise ConnectionError("the database went away after the publish")

    shell.store.mark_published = crash  # type: ignore[method-assign,assignment]
    with pytest.raises(ConnectionError):
        await outbox.drain([report], defer_clear=True)
    assert await outbox.sweep(shell.now, grace=timedelta(minutes=1)) == 1
    assert [v for _, _, v in shell.producer.sent] == [b'{"id":"a1"}', b'{"id":"a1"}']


async def test_each_event_is_published_once_when_processors_take_turns_on_a_report() -> None:
    """Two actions of the partner in two batches, then the distributor's: every write
    drops the outbox published before it (its own, or the other processor's by its
    marker), so no event goes out twice and no report is written twice per action."""
    shell = Shell()
    await open_report(shell)
    clears = 0
    clear = shell.store.clear_outboxes

    async def counted(published: Sequence[tuple[str, int]]) -> None:
        nonlocal clears
        clears += len(published)
        await clear(published)

    shell.store.clear_outboxes = counted  # type: ignore[method-assign]
    sent_before = len(shell.producer.sent)
    draft = action("lmp.partner.draft-saved", "P", "P", id_="a1", lines=EXPLAINED)
    submit = action("lmp.partner.report-submitted", "P", "P", id_="a2", lines=EXPLAINED)
    review = action("lmp.distributor.draft-saved", "P", "D1", id_="d1", po_number="PO-1")
    for name, record in [
        ("partner-actions", draft),
        ("partner-actions", submit),
        ("distributor-actions", review),
    ]:
        assert await handle(shell, name, record) == []
    values = [v for _, _, v in shell.producer.sent[sent_before:] if v is not None]
    ids = [json.loads(v)["id"] for v in values]
    assert len(ids) >= 3
    assert len(ids) == len(set(ids)), ids
    assert clears == 0
    assert [i.rsplit("/", 1)[-1] for i in await outbox_ids(shell, REPORT)] == ["d1"]
    everywhere = [shell.runtime(n).outbox for n in ("partner-actions", "distributor-actions")]
    for outbox in everywhere:  # as at a stop (the partner's clear finds the report moved on)
        await outbox.clear_published(everything=True)
    assert await outbox_ids(shell, REPORT) == []


async def test_a_stopping_processor_clears_what_it_published_and_a_failure_does_not_stop_it() -> (
    None
):
    shell = Shell()
    runtime = shell.runtime("relay")
    report = await staged(shell, "A:2026-10", "a1")
    await runtime.outbox.drain([report], defer_clear=True)
    assert await outbox_ids(shell, report.id) == ["a1"]  # cleared later, or at the stop
    runner = BatchRunner(runtime, handler=None)  # type: ignore[arg-type]
    await runner.finish()
    assert await outbox_ids(shell, report.id) == []

    other = await staged(shell, "B:2026-10", "b1")
    await runtime.outbox.drain([other], defer_clear=True)

    async def away(_published: object) -> None:
        raise ConnectionError("the database is away at the stop")

    shell.store.clear_outboxes = away  # type: ignore[method-assign,assignment]
    await runner.finish()  # logged: a sweep publishes it again later
    assert await outbox_ids(shell, other.id) == ["b1"]
