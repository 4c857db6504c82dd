"""Operators' view of the live topics: catalogue status, tailing messages, dead-letter replay.

Everything here reads the broker without a consumer group, so looking never moves a
processor's offsets.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import BaseModel, ValidationError

from schemas.accounts import DistributorAccount, PartnerAccount
from schemas.actions import Actor
from schemas.envelope import RawCloudEvent
from schemas.events import (
    ActionRejected,
    BillingSubmitted,
    DeadLetter,
    DeadlineReminder,
    LateUsage,
    PenaltyAssessed,
    ReportEvent,
)
from schemas.pricing import PriceListed, PromotionPublished
from schemas.usage import UsageReported
from services.adapters.catalogue import Catalogue
from services.adapters.codec import Decoded, InboundMessage, decode
from services.adapters.kafka_admin import TopicStatus, live_partitions
from services.adapters.publisher import DEAD_LETTER_TOPIC
from services.domain.ids import report_id

log = logging.getLogger(__name__)

REPLAYED_FROM = "lmp-replayed-from"
"""Header on a replayed record: ``<dead-letter topic>:<partition>:<offset>`` it came from."""

REPLAY_CLOCK_MARGIN = timedelta(hours=1)
"""Replays are looked for from this long before the dead letter was written (clock skew)."""

_POLL_MS = 500
_STALLED_POLLS = 20
"""Empty polls in a row after which a partition that never reaches its end is given up."""


class OpsError(Exception):
    """A request the operator can correct (unknown topic, unknown offset)."""


# reading --------------------------------------------------------------------


@dataclass(frozen=True)
class TopicRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return None


def resolve_topics(catalogue: Catalogue, names: Sequence[str]) -> list[str]:
    """Physical names of the topics asked for by contract or physical name; all by default."""
    if not names:
        return list(catalogue.topics)
    resolved = []
    for name in names:
        physical = name if name in catalogue.topics else catalogue.physical(name)
        if physical not in catalogue.topics:
            known = ", ".join(t.removeprefix(catalogue.namespace) for t in catalogue.topics)
            raise OpsError(f"unknown topic {name!r}; topics.yaml has {known}")
        resolved.append(physical)
    return list(dict.fromkeys(resolved))


@contextlib.asynccontextmanager
async def _consumer(bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()
        yield consumer
    finally:
        await consumer.stop()


async def _partitions(bootstrap: str, topics: Iterable[str]) -> list[TopicPartition]:
    names = list(topics)
    live = await live_partitions(bootstrap, names)
    tps = []
    for topic in names:
        if topic not in live:
            raise OpsError(f"topic {topic} does not exist (run `lmp-billing topics ensure`)")
        tps += [TopicPartition(topic, p) for p in live[topic]]
    return tps


async def _window(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    since: datetime | None,
    last: int | None,
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Where to start on each partition, and its end offset now."""
    beginning: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    starts = dict(beginning)
    if since is not None:
        found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        starts = {tp: found[tp].offset if found[tp] else ends[tp] for tp in tps}
    if last is not None:
        starts = {tp: max(starts[tp], ends[tp] - last) for tp in tps}
    return starts, ends


async def _records(
    consumer: AIOKafkaConsumer,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int] | None,
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[TopicRecord, None]:
    """From ``starts`` up to ``ends``; with no ends, on and on (following) until ``stop``."""
    tps = list(starts)
    consumer.assign(tps)
    consumer.resume(*tps)
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    pending = set(tps) if ends is None else {tp for tp in tps if starts[tp] < ends[tp]}
    if ends is not None:
        consumer.pause(*(set(tps) - pending))
    empty_polls = 0
    while pending and not (stop is not None and stop.is_set()):
        batch = await consumer.getmany(timeout_ms=_POLL_MS)
        empty_polls = 0 if batch else empty_polls + 1
        for tp, records in sorted(batch.items()):
            for rec in records:
                if ends is None or rec.offset < ends[tp]:
                    yield TopicRecord(
                        rec.topic,
                        rec.partition,
                        rec.offset,
                        rec.timestamp,
                        rec.key,
                        rec.value or b"",
                        tuple(rec.headers or ()),
                    )
        if ends is None:
            continue
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
                consumer.pause(tp)
        if empty_polls >= _STALLED_POLLS:
            log.warning(
                "gave up reading %s: no messages before their end offsets",
                ", ".join(f"{tp.topic} {tp.partition}" for tp in sorted(pending)),
            )
            return


async def read_records(
    bootstrap: str,
    topics: Sequence[str],
    *,
    since: datetime | None = None,
    last: int | None = None,
) -> AsyncGenerator[TopicRecord, None]:
    """Records of ``topics`` up to the end offsets seen now: all retained, those written
    ``since``, or the ``last`` N per partition."""
    tps = await _partitions(bootstrap, topics)
    async with _consumer(bootstrap) as consumer:
        starts, ends = await _window(consumer, tps, since, last)
        async for record in _records(consumer, starts, ends):
            yield record


# decoding -------------------------------------------------------------------


@dataclass(frozen=True)
class TailedMessage:
    """A record read as the processors would read it, decodable or not."""

    record: TopicRecord
    event: RawCloudEvent | None
    data: BaseModel | None
    error: str | None
    original: TailedMessage | None = None
    """For a dead letter: the message that could not be applied."""

    @property
    def type(self) -> str | None:
        return self.event.type if self.event else None

    @property
    def raw_data(self) -> dict[str, Any]:
        return self.event.data if self.event else {}

    @property
    def report_id(self) -> str | None:
        """The report a message is about: its ``report_id``, or partner and cycle (usage)."""
        data = self.raw_data
        if isinstance(data.get("report_id"), str):
            return str(data["report_id"])
        partner, cycle = data.get("partner_id"), data.get("cycle")
        if isinstance(partner, str) and isinstance(cycle, str):
            return report_id(partner, cycle)
        return None

    @property
    def key_text(self) -> str | None:
        key = self.record.key
        return key.decode(errors="replace") if key is not None else None

    @property
    def about(self) -> str:
        """What the message concerns, for a person: report, subject or key."""
        if self.original is not None:
            return self.original.about
        subject = self.event.subject if self.event else None
        return self.report_id or subject or self.key_text or "-"


def read_message(record: TopicRecord, catalogue: Catalogue) -> TailedMessage:
    """Decode like the processors do (envelope, then the type's model); never raise."""
    allowed = frozenset(
        catalogue.topics[record.topic].types if record.topic in catalogue.topics else ()
    )
    inbound = InboundMessage(
        record.topic, record.partition, record.offset, record.key, record.value
    )
    result = decode(inbound, allowed)
    if isinstance(result, Decoded):
        original = _original(record, result.data, catalogue)
        return TailedMessage(record, result.envelope, result.data, None, original)
    try:
        envelope: RawCloudEvent | None = RawCloudEvent.model_validate_json(record.value)
    except ValidationError:
        envelope = None
    return TailedMessage(record, envelope, None, f"{result.kind}: {result.error}")


def _original(record: TopicRecord, data: BaseModel, catalogue: Catalogue) -> TailedMessage | None:
    if not isinstance(data, DeadLetter):
        return None
    try:
        value = base64.b64decode(data.value_base64, validate=True)
    except (binascii.Error, ValueError):
        return None
    source = TopicRecord(
        data.topic, data.partition, data.offset, record.timestamp_ms, record.key, value
    )
    return read_message(source, catalogue)


# filtering ------------------------------------------------------------------


@dataclass(frozen=True)
class MessageFilter:
    """What an operator looks for; a dead letter matches when it or its original does."""

    report: str | None = None
    partner: str | None = None
    types: tuple[str, ...] = ()

    def matches(self, message: TailedMessage) -> bool:
        candidates = [message] if message.original is None else [message, message.original]
        checks = []
        if self.report is not None:
            checks.append(self._about_report)
        if self.partner is not None:
            checks.append(self._about_partner)
        if self.types:
            checks.append(self._of_type)
        return all(any(check(m) for m in candidates) for check in checks)

    def _about_report(self, m: TailedMessage) -> bool:
        subject = m.event.subject if m.event else None
        return self.report in (m.report_id, subject, m.key_text)

    def _about_partner(self, m: TailedMessage) -> bool:
        assert self.partner is not None
        prefix = f"{self.partner}:"
        subject = (m.event.subject if m.event else None) or ""
        return (
            m.raw_data.get("partner_id") == self.partner
            or m.key_text == self.partner
            or (m.report_id or "").startswith(prefix)
            or subject.startswith(prefix)
        )

    def _of_type(self, m: TailedMessage) -> bool:
        type_ = m.type
        if type_ is None:
            return False
        return any(
            type_ == want or type_.startswith(want if want.endswith(".") else f"{want}.")
            for want in self.types
        )


# rendering ------------------------------------------------------------------


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _actor(actor: Actor) -> str:
    return f"by {actor.account_id}/{actor.user_id}"


def summary(message: TailedMessage) -> str:
    """One short phrase of what the message says."""
    data = message.data
    if data is None:
        return message.error or "-"
    if isinstance(data, DeadLetter):
        text = f"{data.error_kind} in {data.processor}: {data.error}"
        origin = f"{data.topic} {data.partition}:{data.offset}"
        original = message.original
        if original is not None and original.event is not None:
            origin += f" {original.event.type} {original.event.id}"
        return f"{text} <- {origin}"
    if isinstance(data, UsageReported):
        used = "-" if data.used_units is None else data.used_units
        return (
            f"{data.product_id} {data.subscription_id} "
            f"provisioned {data.provisioned_units} used {used}"
        )
    if isinstance(data, ReportEvent):
        text = f"{data.status.value} v{data.version}"
        if isinstance(data, LateUsage):
            text += f" late {data.product_id} {data.subscription_id} {data.provisioned_units}"
        if isinstance(data, DeadlineReminder):
            text += f" {data.days_before} days before the deadline"
        if data.caused_by:
            text += f" caused by {data.caused_by}"
        return text
    if isinstance(data, ActionRejected):
        return f"{data.action_type} {data.action_id} refused: {data.reason}"
    if isinstance(data, PenaltyAssessed):
        return f"penalty {data.amount_added} {data.currency or ''} on {len(data.lines)} lines"
    if isinstance(data, BillingSubmitted):
        return f"PO {data.po_number} total {data.total_amount} {data.currency or ''}"
    if isinstance(data, PartnerAccount):
        return f"{data.name} -> distributor {data.distributor_id} {data.region} {data.currency}"
    if isinstance(data, DistributorAccount):
        return f"distributor {data.name} {data.region}"
    if isinstance(data, PriceListed):
        return f"{data.product_id} {data.region} {data.unit_price} {data.currency}"
    if isinstance(data, PromotionPublished):
        return f"{data.kind.value} {data.code} {data.region} until {_time(data.valid_until)}"
    actor = getattr(data, "actor", None)
    if isinstance(actor, Actor):
        rest = data.model_dump(mode="json", exclude={"actor", "report_id"}, exclude_defaults=True)
        return f"{_actor(actor)} {json.dumps(rest, separators=(',', ':'))}"[:200]
    return json.dumps(data.model_dump(mode="json"), separators=(",", ":"))[:200]


def text_line(message: TailedMessage) -> str:
    rec = message.record
    kind = message.type if message.data is not None else "UNDECODABLE"
    ident = message.event.id if message.event else "-"
    replayed = rec.header(REPLAYED_FROM)
    tail = f"  (replayed from {replayed})" if replayed else ""
    return (
        f"{_time(rec.time)}  {rec.topic}  {rec.partition}:{rec.offset}  {kind}  {ident}  "
        f"{message.about}  {summary(message)}{tail}"
    )


def json_object(message: TailedMessage) -> dict[str, Any]:
    rec = message.record
    return {
        "time": _time(rec.time),
        "topic": rec.topic,
        "partition": rec.partition,
        "offset": rec.offset,
        "key": message.key_text,
        "headers": {k: v.decode(errors="replace") for k, v in rec.headers},
        "report_id": message.report_id,
        "event": message.event.model_dump(mode="json") if message.event else None,
        "error": message.error,
        "value": rec.value.decode(errors="replace") if message.event is None else None,
        "original": json_object(message.original) if message.original else None,
    }


# tail -----------------------------------------------------------------------


@dataclass(frozen=True)
class TailRequest:
    topics: list[str]
    filter: MessageFilter = field(default_factory=MessageFilter)
    since: datetime | None = None
    last: int | None = None
    follow: bool = False
    as_json: bool = False


async def tail(
    bootstrap: str,
    catalogue: Catalogue,
    request: TailRequest,
    out: TextIO,
    stop: asyncio.Event | None = None,
) -> int:
    """Print matching messages: what is there now sorted by time across topics, then
    (``follow``) new ones as they arrive, until ``stop`` is set.

    A set event, checked between polls, rather than cancelling the task: aiokafka can
    swallow a cancellation that lands inside it (aio-libs/aiokafka#983), which left a
    following tail running after Ctrl-C.
    """

    def show(message: TailedMessage) -> None:
        text = json.dumps(json_object(message)) if request.as_json else text_line(message)
        print(text, file=out, flush=request.follow)

    tps = await _partitions(bootstrap, request.topics)
    async with _consumer(bootstrap) as consumer:
        starts, ends = await _window(consumer, tps, request.since, request.last)
        backlog = []
        async for record in _records(consumer, starts, ends, stop):
            if request.since is not None and record.time < request.since:
                continue
            message = read_message(record, catalogue)
            if request.filter.matches(message):
                backlog.append(message)
        for message in sorted(backlog, key=_chronological):
            show(message)
        if request.follow:
            async for record in _records(consumer, ends, None, stop):
                message = read_message(record, catalogue)
                if request.filter.matches(message):
                    show(message)
    return 0


def _chronological(message: TailedMessage) -> tuple[int, str, int, int]:
    rec = message.record
    return rec.timestamp_ms, rec.topic, rec.partition, rec.offset


# dead letters ---------------------------------------------------------------


async def dead_letters(bootstrap: str, catalogue: Catalogue) -> list[TailedMessage]:
    """Every record retained on the dead-letter topic, in offset order."""
    topic = catalogue.physical(DEAD_LETTER_TOPIC)
    records = read_records(bootstrap, [topic])
    async with contextlib.aclosing(records):
        found = [read_message(record, catalogue) async for record in records]
    return sorted(found, key=lambda m: (m.record.partition, m.record.offset))


def position_text(partition: int, offset: int) -> str:
    return str(offset) if partition == 0 else f"{partition}:{offset}"


def dead_letter_row(message: TailedMessage) -> dict[str, Any]:
    rec = message.record
    row: dict[str, Any] = {
        "partition": rec.partition,
        "offset": rec.offset,
        "time": _time(rec.time),
    }
    letter = message.data
    if not isinstance(letter, DeadLetter):
        return {**row, "error_kind": None, "error": f"not a dead letter: {message.error}"}
    return {
        **row,
        "topic": letter.topic,
        "original_partition": letter.partition,
        "original_offset": letter.offset,
        "key": letter.key,
        "error_kind": letter.error_kind,
        "error": letter.error,
        "processor": letter.processor,
        "message_id": letter.message_id,
    }


async def list_dead_letters(
    bootstrap: str, catalogue: Catalogue, error_kind: str | None, as_json: bool, out: TextIO
) -> int:
    rows = [dead_letter_row(m) for m in await dead_letters(bootstrap, catalogue)]
    if error_kind is not None:
        rows = [r for r in rows if r["error_kind"] == error_kind]
    if as_json:
        for row in rows:
            print(json.dumps(row), file=out)
        return 0
    for row in rows:
        where = position_text(row["partition"], row["offset"])
        if row["error_kind"] is None:
            print(f"{where:>8}  {row['time']}  {row['error']}", file=out)
            continue
        origin = f"{row['topic']} {row['original_partition']}:{row['original_offset']}"
        print(
            f"{where:>8}  {row['time']}  {origin}  {row['error_kind']}  "
            f"{row['message_id'] or '-'}  {row['processor']}  {row['error']}",
            file=out,
        )
    if not rows:
        print(f"no dead letters on {catalogue.physical(DEAD_LETTER_TOPIC)}", file=out)
    return 0


def replay_marker(dead_letter_topic: str, partition: int, offset: int) -> str:
    return f"{dead_letter_topic}:{partition}:{offset}"


async def find_replays(
    bootstrap: str, letters: Sequence[TailedMessage]
) -> dict[str, tuple[str, int, int]]:
    """Where each dead letter was already replayed to: marker -> (topic, partition, offset).

    A replay goes back to its original partition with the ``lmp-replayed-from`` header, so
    only that partition needs reading, and only after the original message and from a
    little before the dead letter was written.
    """
    wanted: set[str] = set()
    earliest: dict[TopicPartition, tuple[int, int]] = {}
    for m in letters:
        letter = m.data
        assert isinstance(letter, DeadLetter)
        wanted.add(_marker(m))
        tp = TopicPartition(letter.topic, letter.partition)
        since_ms = m.record.timestamp_ms - int(REPLAY_CLOCK_MARGIN.total_seconds() * 1000)
        offset, at = earliest.get(tp, (letter.offset, since_ms))
        earliest[tp] = (min(offset, letter.offset), min(at, since_ms))
    if not earliest:
        return {}
    found: dict[str, tuple[str, int, int]] = {}
    await _partitions(bootstrap, {tp.topic for tp in earliest})
    async with _consumer(bootstrap) as consumer:
        by_time = await consumer.offsets_for_times({tp: at for tp, (_, at) in earliest.items()})
        ends: dict[TopicPartition, int] = await consumer.end_offsets(list(earliest))
        starts = {
            tp: max(offset + 1, by_time[tp].offset if by_time[tp] else ends[tp])
            for tp, (offset, _) in earliest.items()
        }
        async for record in _records(consumer, starts, ends):
            marker = record.header(REPLAYED_FROM)
            if marker in wanted:
                found.setdefault(marker, (record.topic, record.partition, record.offset))
    return found


@dataclass(frozen=True)
class ReplayRequest:
    positions: list[tuple[int, int]]
    """(partition, offset) on the dead-letter topic; empty means every dead letter."""
    error_kind: str | None = None
    force: bool = False


async def replay_dead_letters(
    bootstrap: str, catalogue: Catalogue, request: ReplayRequest, out: TextIO, err: TextIO
) -> int:
    """Republish dead letters' original bytes and key to their original topic and partition."""
    dlq = catalogue.physical(DEAD_LETTER_TOPIC)
    messages = await dead_letters(bootstrap, catalogue)
    by_position = {(m.record.partition, m.record.offset): m for m in messages}
    if request.positions:
        positions = list(dict.fromkeys(request.positions))
        unknown = [p for p in positions if p not in by_position]
        if unknown:
            held = ", ".join(
                f"partition {p}: {min(o for q, o in by_position if q == p)}"
                f"..{max(o for q, o in by_position if q == p)}"
                for p in sorted({q for q, _ in by_position})
            )
            names = ", ".join(position_text(*p) for p in unknown)
            print(
                f"no dead letter at offset {names} on {dlq} "
                f"({'it holds ' + held if held else 'it is empty'})",
                file=err,
            )
            return 1
        chosen = [by_position[p] for p in positions]
        broken = [m for m in chosen if not isinstance(m.data, DeadLetter)]
        if broken:
            for m in broken:
                where = position_text(m.record.partition, m.record.offset)
                print(f"offset {where} on {dlq} is not a dead letter: {m.error}", file=err)
            return 1
    else:
        chosen = [m for m in messages if isinstance(m.data, DeadLetter)]
    if request.error_kind is not None:
        chosen = [m for m in chosen if _letter(m).error_kind == request.error_kind]

    replays = {} if request.force else await find_replays(bootstrap, chosen)
    done = [m for m in chosen if _marker(m) in replays]
    for m in done:
        topic, partition, offset = replays[_marker(m)]
        print(
            f"dead letter {_where(m)} was already replayed to {topic} {partition}:{offset}"
            + (" (--force replays it again)" if request.positions else "; skipped"),
            file=err if request.positions else out,
        )
    if done and request.positions:
        return 1
    todo = [m for m in chosen if _marker(m) not in replays]
    if not request.positions:
        # A replay that failed again is dead-lettered again: replaying that one too would
        # add a generation per run, so --all leaves it to an explicit --offset.
        replayed_as = {destination: marker for marker, destination in replays.items()}
        for m in list(todo):
            letter = _letter(m)
            first = replayed_as.get((letter.topic, letter.partition, letter.offset))
            if first is not None:
                print(
                    f"dead letter {_where(m)} is the replay of dead letter "
                    f"{position_text(*_position(first))} failing again; skipped "
                    f"(--offset {_where(m)} replays it)",
                    file=out,
                )
                todo.remove(m)
    if not todo:
        print("nothing to replay", file=out)
        return 0

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        await producer.start()
        for m in todo:
            letter = _letter(m)
            value = base64.b64decode(letter.value_base64)
            sent = await producer.send_and_wait(
                letter.topic,
                value,
                key=m.record.key,
                partition=letter.partition,
                headers=[(REPLAYED_FROM, _marker(m).encode())],
            )
            print(
                f"replayed dead letter {_where(m)} "
                f"({letter.error_kind}, {letter.message_id or 'no message id'}) to "
                f"{letter.topic} {sent.partition}:{sent.offset} "
                f"(originally {letter.partition}:{letter.offset}, {len(value)} bytes)",
                file=out,
            )
    finally:
        await producer.stop()
    return 0


def _where(message: TailedMessage) -> str:
    return position_text(message.record.partition, message.record.offset)


def _position(marker: str) -> tuple[int, int]:
    _topic, partition, offset = marker.rsplit(":", 2)
    return int(partition), int(offset)


def _letter(message: TailedMessage) -> DeadLetter:
    assert isinstance(message.data, DeadLetter)
    return message.data


def _marker(message: TailedMessage) -> str:
    return replay_marker(message.record.topic, message.record.partition, message.record.offset)


# topics list ----------------------------------------------------------------


def status_text(rows: Sequence[TopicStatus]) -> str:
    lines = []
    for row in rows:
        if row.partitions is None:
            state = f"MISSING (topics.yaml: {row.declared_partitions} partitions)"
        elif row.partitions_differ:
            declared = row.declared_partitions
            state = (
                f"{_partitions_text(row.partitions)} (topics.yaml: {declared}) DIFFERS"
                f"  {row.end_offset:>9} messages"
            )
        else:
            state = f"{_partitions_text(row.partitions)}  {row.end_offset:>9} messages"
        lines.append(f"{row.name:40} {row.direction:3}  {state}")
        for group in row.groups:
            notes = []
            if group.partitions_committed == 0:
                notes.append("no offsets committed")
            if not group.declared:
                notes.append("not in topics.yaml")
            note = f"  ({'; '.join(notes)})" if notes else ""
            lines.append(
                f"    group {group.group:34} committed {group.committed:>9}  "
                f"lag {group.lag:>9}{note}"
            )
    return "\n".join(lines)


def _partitions_text(count: int) -> str:
    return f"{count} partition" if count == 1 else f"{count} partitions"


def status_json(rows: Sequence[TopicStatus]) -> str:
    return json.dumps([row.model_dump(mode="json") for row in rows], indent=2)
