"""Operators' view of the live topics: catalogue status, tailing messages, dead-letter replay.

Everything here reads the broker without a consumer group, so looking never moves a
processor's offsets.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import heapq
import json
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator, Sequence
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
from schemas.report import OutboxEntry
from schemas.usage import UsageReported
from services.adapters.catalogue import Catalogue
from services.adapters.codec import Decoded, InboundMessage, Tombstone, decode, original_bytes
from services.adapters.failures import describe
from services.adapters.kafka_admin import TopicStatus, live_partitions
from services.adapters.kafka_security import Brokers, client_kwargs
from services.adapters.publisher import DEAD_LETTER_TOPIC
from services.adapters.store import Store
from services.domain.ids import report_id

log = logging.getLogger(__name__)

REPLAYED_FROM = "lmp-replayed-from"
"""Header on a replayed record: ``<dead-letter topic>:<partition>:<offset>`` it came from."""

REPLAY_CLOCK_MARGIN = timedelta(hours=1)
"""Replays are looked for from this long before the dead letter was written (clock skew)."""

MERGE_BUFFER = 500
"""Records ``tail`` holds per partition while it merges the partitions in time order."""

_POLL_MS = 500
_STALLED_POLLS = 20
"""Empty polls in a row after which a partition that never reaches its end is given up."""

Position = tuple[str, int, int]
"""(topic, partition, offset) of one record."""


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
    value: bytes | None
    """None for a tombstone (a null value)."""
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
async def _consumer(bootstrap: Brokers) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(**client_kwargs(bootstrap), enable_auto_commit=False)
    try:
        await consumer.start()
        yield consumer
    finally:
        await consumer.stop()


async def _partitions(bootstrap: Brokers, topics: Iterable[str]) -> list[TopicPartition]:
    names = list(topics)
    live = await live_partitions(bootstrap, names)
    tps = []
    for topic in names:
        if topic not in live:
            raise OpsError(
                f"topic {topic} does not exist (run `lmp-billing topics ensure`) or this "
                "principal may not describe it (`lmp-billing topics acls`)"
            )
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
                    yield _record(rec)
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


def _record(rec: Any) -> TopicRecord:
    """An aiokafka ``ConsumerRecord`` as a ``TopicRecord`` (a null value stays None)."""
    headers = tuple(rec.headers or ())
    return TopicRecord(
        rec.topic, rec.partition, rec.offset, rec.timestamp, rec.key, rec.value, headers
    )


def _stopped(stop: asyncio.Event | None) -> bool:
    return stop is not None and stop.is_set()


class _TimeMerge:
    """The records of several partitions merged by timestamp, a bounded buffer each.

    A record leaves once every partition still being read has a record buffered: each
    partition is read in offset order, so none can come up with an earlier record as long
    as its own timestamps do not go back (producers set them; where a partition's do go
    back, its records still come in offset order). The heap holds each non-empty
    buffer's first record.
    """

    def __init__(self, reading: Iterable[TopicPartition]) -> None:
        self.reading = set(reading)
        self.buffers: dict[TopicPartition, deque[TopicRecord]] = {
            tp: deque() for tp in self.reading
        }
        self._heads: list[tuple[int, str, int, int]] = []

    @property
    def done(self) -> bool:
        return not self.reading and not self._heads

    def hungry(self) -> list[TopicPartition]:
        """Partitions still being read whose buffer is empty: they hold the merge up."""
        return sorted(tp for tp in self.reading if not self.buffers[tp])

    def add(self, tp: TopicPartition, records: Sequence[TopicRecord]) -> None:
        buffer = self.buffers[tp]
        if records and not buffer:
            heapq.heappush(self._heads, _order(records[0]))
        buffer.extend(records)

    def finish(self, tp: TopicPartition) -> None:
        """``tp`` has reached its end (what is buffered still leaves in order)."""
        self.reading.discard(tp)

    def ready(self) -> Iterator[TopicRecord]:
        """The records that can leave now, in time order."""
        if self.hungry():
            return
        while self._heads:
            _, topic, partition, _ = heapq.heappop(self._heads)
            tp = TopicPartition(topic, partition)
            buffer = self.buffers[tp]
            yield buffer.popleft()
            if buffer:
                heapq.heappush(self._heads, _order(buffer[0]))
            elif tp in self.reading:
                return


def _order(record: TopicRecord) -> tuple[int, str, int, int]:
    return record.timestamp_ms, record.topic, record.partition, record.offset


async def _merged(
    consumer: AIOKafkaConsumer,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[TopicRecord, None]:
    """From ``starts`` up to ``ends``, every partition merged in time order, reading
    only the partitions the merge waits on and at most ``MERGE_BUFFER`` records each."""
    consumer.assign(list(starts))
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
    merge = _TimeMerge(tp for tp in starts if starts[tp] < ends[tp])
    consumer.pause(*(set(starts) - merge.reading))
    empty_polls = 0
    while not merge.done and not _stopped(stop):
        for record in merge.ready():
            yield record
        hungry = merge.hungry()
        if not hungry:
            continue
        batch = await consumer.getmany(*hungry, timeout_ms=_POLL_MS, max_records=MERGE_BUFFER)
        empty_polls = 0 if batch else empty_polls + 1
        for tp, records in batch.items():
            merge.add(tp, [_record(r) for r in records if r.offset < ends[tp]])
        for tp in hungry:
            if await consumer.position(tp) >= ends[tp]:
                merge.finish(tp)
                consumer.pause(tp)
        if empty_polls >= _STALLED_POLLS:
            _give_up(merge, merge.hungry())
            empty_polls = 0


def _give_up(merge: _TimeMerge, stalled: Sequence[TopicPartition]) -> None:
    log.warning(
        "gave up reading %s: no messages before their end offsets",
        ", ".join(f"{tp.topic} {tp.partition}" for tp in stalled),
    )
    for tp in stalled:
        merge.finish(tp)


async def read_at(
    bootstrap: Brokers, positions: Iterable[Position]
) -> tuple[dict[Position, TopicRecord], dict[TopicPartition, tuple[int, int]]]:
    """The records at ``positions`` that are still retained, each read by seeking to it,
    and the retained range ``[first, end)`` of every partition of their topics."""
    wanted = sorted(set(positions))
    live = await live_partitions(bootstrap, {topic for topic, _, _ in wanted})
    tps = [TopicPartition(topic, p) for topic, partitions in live.items() for p in partitions]
    if not tps:
        return {}, {}
    found: dict[Position, TopicRecord] = {}
    async with _consumer(bootstrap) as consumer:
        firsts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        ranges = {tp: (firsts[tp], ends[tp]) for tp in tps}
        for position in wanted:
            record = await _one_at(consumer, position, ranges)
            if record is not None:
                found[position] = record
    return found, ranges


async def _one_at(
    consumer: AIOKafkaConsumer, position: Position, ranges: dict[TopicPartition, tuple[int, int]]
) -> TopicRecord | None:
    topic, partition, offset = position
    tp = TopicPartition(topic, partition)
    first, end = ranges.get(tp, (0, 0))
    if not first <= offset < end:
        return None
    if consumer.assignment() != {tp}:
        consumer.assign([tp])
    consumer.seek(tp, offset)
    for _ in range(_STALLED_POLLS):
        batch = await consumer.getmany(tp, timeout_ms=_POLL_MS, max_records=1)
        for rec in batch.get(tp, []):
            return _record(rec) if rec.offset == offset else None
        if await consumer.position(tp) > offset:
            return None
    return None


async def read_records(
    bootstrap: Brokers,
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
    tombstone: bool = False
    """A null value on a compacted topic: its key's entity is withdrawn."""

    @property
    def type(self) -> str | None:
        return self.event.type if self.event else None

    @property
    def letter(self) -> DeadLetter | None:
        return self.data if isinstance(self.data, DeadLetter) else None

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
    spec = catalogue.topics.get(record.topic)
    allowed = frozenset(spec.types if spec is not None else ())
    compacted = spec is not None and spec.cleanup_policy == "compact"
    inbound = InboundMessage(
        record.topic, record.partition, record.offset, record.key, record.value, record.timestamp_ms
    )
    result = decode(inbound, allowed, compacted=compacted)
    if isinstance(result, Decoded):
        original = _original(record, result.data, catalogue)
        return TailedMessage(record, result.envelope, result.data, None, original)
    if isinstance(result, Tombstone):
        return TailedMessage(record, None, None, None, tombstone=True)
    return TailedMessage(record, _envelope(record.value), None, f"{result.kind}: {result.error}")


def _envelope(value: bytes | None) -> RawCloudEvent | None:
    """The envelope of a message whose data did not pass, when there is one."""
    if value is None:
        return None
    try:
        return RawCloudEvent.model_validate_json(value)
    except ValidationError:
        return None


def letter_bytes(letter: DeadLetter, record_key: bytes | None) -> tuple[bytes | None, bytes | None]:
    """The original key and value a dead letter carries; the value is None for a tombstone
    and when it was left out. ``record_key`` (the dead letter's own key) stands in for a
    key the letter does not spell. ValueError when its base64 is broken."""
    if letter.key_base64 is not None:
        key: bytes | None = base64.b64decode(letter.key_base64, validate=True)
    else:
        key = letter.key.encode() if letter.key is not None else record_key
    return key, original_bytes(letter)


def _original(record: TopicRecord, data: BaseModel, catalogue: Catalogue) -> TailedMessage | None:
    if not isinstance(data, DeadLetter):
        return None
    try:
        key, value = letter_bytes(data, record.key)
    except ValueError as exc:
        key, value = record.key, None
        broken: str | None = f"the dead letter's base64 does not decode: {exc}"
    else:
        broken = _omitted_text(data) if data.value_omitted else None
    source = TopicRecord(data.topic, data.partition, data.offset, record.timestamp_ms, key, value)
    if broken is not None:
        return TailedMessage(source, None, None, broken)
    return read_message(source, catalogue)


def _omitted_text(letter: DeadLetter) -> str:
    size = "?" if letter.value_size is None else letter.value_size
    return (
        f"value omitted ({size} bytes): the original is at "
        f"{letter.topic} {letter.partition}:{letter.offset}"
    )


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
    if message.tombstone:
        return f"tombstone: withdraws {message.key_text}"
    if data is None:
        return message.error or "-"
    if isinstance(data, DeadLetter):
        text = f"{data.error_kind} in {data.processor}: {data.error}"
        origin = f"{data.topic} {data.partition}:{data.offset}"
        original = message.original
        if original is not None and original.event is not None:
            origin += f" {original.event.type} {original.event.id}"
        if data.value_omitted:
            origin += f" (value omitted, {data.value_size} bytes: read at the origin)"
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
    if message.tombstone:
        kind = "TOMBSTONE"
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
        "tombstone": message.tombstone,
        "value": (
            rec.value.decode(errors="replace")
            if message.event is None and rec.value is not None
            else None
        ),
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
    bootstrap: Brokers,
    catalogue: Catalogue,
    request: TailRequest,
    out: TextIO,
    stop: asyncio.Event | None = None,
) -> int:
    """Print matching messages: what is there now in time order across topics and
    partitions (merged as it is read, a bounded buffer per partition), then (``follow``)
    new ones as they arrive, until ``stop`` is set.

    A set event, checked between polls, rather than cancelling the task: aiokafka can
    swallow a cancellation that lands inside it (aio-libs/aiokafka#983), which left a
    following tail running after Ctrl-C.
    """

    def show(record: TopicRecord) -> None:
        message = read_message(record, catalogue)
        if request.filter.matches(message):
            text = json.dumps(json_object(message)) if request.as_json else text_line(message)
            print(text, file=out, flush=request.follow)

    tps = await _partitions(bootstrap, request.topics)
    async with _consumer(bootstrap) as consumer:
        starts, ends = await _window(consumer, tps, request.since, request.last)
        async with contextlib.aclosing(_merged(consumer, starts, ends, stop)) as backlog:
            async for record in backlog:
                if request.since is None or record.time >= request.since:
                    show(record)
        if request.follow:
            async with contextlib.aclosing(_records(consumer, ends, None, stop)) as live:
                async for record in live:
                    show(record)
    return 0


# dead letters ---------------------------------------------------------------


async def dead_letters(bootstrap: Brokers, catalogue: Catalogue) -> list[TailedMessage]:
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
        "value_size": letter.value_size,
        "value_omitted": letter.value_omitted,
        "error_kind": letter.error_kind,
        "error": letter.error,
        "processor": letter.processor,
        "message_id": letter.message_id,
    }


async def list_dead_letters(
    bootstrap: Brokers, catalogue: Catalogue, error_kind: str | None, as_json: bool, out: TextIO
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
    bootstrap: Brokers, letters: Sequence[TailedMessage]
) -> dict[str, tuple[str, int, int]]:
    """Where each dead letter was already replayed to: marker -> (topic, partition, offset).

    A replay goes back to its original partition with the ``lmp-replayed-from`` header, so
    only that partition needs reading, and only after the original message and from a
    little before the dead letter was written.
    """
    wanted: set[str] = set()
    earliest: dict[TopicPartition, tuple[int, int]] = {}
    for m in letters:
        letter = _letter(m)
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
    bootstrap: Brokers, catalogue: Catalogue, request: ReplayRequest, out: TextIO, err: TextIO
) -> int:
    """Republish dead letters' original bytes and key to their original topic and partition.

    ``--offset`` reads just the dead letters asked for and is all or nothing: an unknown
    offset, a letter replayed before (without ``force``) or an original that is gone
    refuses the whole request. Without offsets every dead letter is read; those replayed
    before are skipped, and those whose original is gone are refused (exit status 1)
    while the others are replayed.
    """
    if request.positions:
        found = await _letters_at(bootstrap, catalogue, request.positions, err)
        if found is None:
            return 1
        chosen = found
    else:
        chosen = [m for m in await dead_letters(bootstrap, catalogue) if m.letter is not None]
    if request.error_kind is not None:
        chosen = [m for m in chosen if _letter(m).error_kind == request.error_kind]
    todo = await _not_replayed(bootstrap, chosen, request, out, err)
    if todo is None:
        return 1
    replays, refused = await _replays(bootstrap, todo, err)
    if refused and request.positions:
        print("nothing replayed", file=err)
        return 1
    if not replays:
        print("nothing to replay", file=out)
    else:
        await _publish_replays(bootstrap, replays, out)
    return 1 if refused else 0


async def _letters_at(
    bootstrap: Brokers, catalogue: Catalogue, positions: Sequence[tuple[int, int]], err: TextIO
) -> list[TailedMessage] | None:
    """The dead letters at ``positions`` (partition, offset), read by seeking to each;
    None (said on ``err``) when one is missing or is not a dead letter."""
    dlq = catalogue.physical(DEAD_LETTER_TOPIC)
    await _partitions(bootstrap, [dlq])
    wanted = list(dict.fromkeys(positions))
    found, ranges = await read_at(bootstrap, [(dlq, p, o) for p, o in wanted])
    unknown = [p for p in wanted if (dlq, *p) not in found]
    if unknown:
        held = ", ".join(
            f"partition {tp.partition}: {first}..{end - 1}"
            for tp, (first, end) in sorted(ranges.items())
            if end > first
        )
        names = ", ".join(position_text(*p) for p in unknown)
        print(
            f"no dead letter at offset {names} on {dlq} "
            f"({'it holds ' + held if held else 'it is empty'})",
            file=err,
        )
        return None
    chosen = [read_message(found[(dlq, *p)], catalogue) for p in wanted]
    broken = [m for m in chosen if m.letter is None]
    for m in broken:
        print(f"offset {_where(m)} on {dlq} is not a dead letter: {m.error}", file=err)
    return None if broken else chosen


async def _not_replayed(
    bootstrap: Brokers,
    chosen: Sequence[TailedMessage],
    request: ReplayRequest,
    out: TextIO,
    err: TextIO,
) -> list[TailedMessage] | None:
    """``chosen`` less what was replayed before (unless ``force``); None (said on ``err``)
    when offsets were asked for and one of them was."""
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
        return None
    todo = [m for m in chosen if _marker(m) not in replays]
    if request.positions:
        return todo
    # A replay that failed again is dead-lettered again: replaying that one too would
    # add a generation per run, so --all leaves it to an explicit --offset.
    replayed_as = {destination: marker for marker, destination in replays.items()}
    kept = []
    for m in todo:
        letter = _letter(m)
        first = replayed_as.get((letter.topic, letter.partition, letter.offset))
        if first is None:
            kept.append(m)
            continue
        print(
            f"dead letter {_where(m)} is the replay of dead letter "
            f"{position_text(*_position(first))} failing again; skipped "
            f"(--offset {_where(m)} replays it)",
            file=out,
        )
    return kept


@dataclass(frozen=True)
class Replay:
    """What replaying one dead letter publishes: the original key and value (None: a
    tombstone), and whether they were read back at the origin (the letter left them out)."""

    message: TailedMessage
    key: bytes | None
    value: bytes | None
    from_origin: bool = False


async def _replays(
    bootstrap: Brokers, todo: Sequence[TailedMessage], err: TextIO
) -> tuple[list[Replay], int]:
    """The bytes to republish for each dead letter, and how many were refused (said on
    ``err``): a left-out original is read at its origin while the topic retains it."""
    omitted = [_origin(m) for m in todo if _letter(m).value_omitted]
    originals, ranges = await read_at(bootstrap, omitted) if omitted else ({}, {})
    replays: list[Replay] = []
    for m in todo:
        topic, partition, _ = _origin(m)
        retained = ranges.get(TopicPartition(topic, partition))
        replay = _replay(m, originals.get(_origin(m)), retained)
        if isinstance(replay, Replay):
            replays.append(replay)
        else:
            print(f"dead letter {_where(m)} cannot be replayed: {replay}", file=err)
    return replays, len(todo) - len(replays)


def _replay(
    message: TailedMessage, original: TopicRecord | None, retained: tuple[int, int] | None
) -> Replay | str:
    """The replay of one dead letter, or why there is none; ``original`` is the record at
    its origin and ``retained`` what the origin's partition holds (for a left-out value)."""
    letter = _letter(message)
    if letter.value_omitted:
        if original is None:
            return _gone(letter, retained)
        return Replay(message, original.key, original.value, from_origin=True)
    try:
        key, value = letter_bytes(letter, message.record.key)
    except ValueError as exc:
        return f"its base64 does not decode: {exc}"
    if value is None and letter.value_size is not None:
        return f"it carries none of the original's {letter.value_size} bytes"
    return Replay(message, key, value)


def _gone(letter: DeadLetter, retained: tuple[int, int] | None) -> str:
    if retained is None:
        holds = "the partition does not exist"
    elif retained[1] > retained[0]:
        holds = f"the partition holds {retained[0]}..{retained[1] - 1}"
    else:
        holds = "the partition is empty"
    return (
        f"its original value ({letter.value_size} bytes) was left out of it and "
        f"{letter.topic} {letter.partition}:{letter.offset} is no longer retained ({holds})"
    )


async def _publish_replays(bootstrap: Brokers, replays: Sequence[Replay], out: TextIO) -> None:
    producer = AIOKafkaProducer(**client_kwargs(bootstrap), acks="all", enable_idempotence=True)
    try:
        await producer.start()
        for replay in replays:
            letter = _letter(replay.message)
            sent = await producer.send_and_wait(
                letter.topic,
                replay.value,
                key=replay.key,
                partition=letter.partition,
                headers=[(REPLAYED_FROM, _marker(replay.message).encode())],
            )
            size = "a tombstone" if replay.value is None else f"{len(replay.value)} bytes"
            read = ", read back at the origin" if replay.from_origin else ""
            print(
                f"replayed dead letter {_where(replay.message)} "
                f"({letter.error_kind}, {letter.message_id or 'no message id'}) to "
                f"{letter.topic} {sent.partition}:{sent.offset} "
                f"(originally {letter.partition}:{letter.offset}, {size}{read})",
                file=out,
            )
    finally:
        await producer.stop()


def _where(message: TailedMessage) -> str:
    return position_text(message.record.partition, message.record.offset)


def _position(marker: str) -> tuple[int, int]:
    _topic, partition, offset = marker.rsplit(":", 2)
    return int(partition), int(offset)


def _letter(message: TailedMessage) -> DeadLetter:
    letter = message.letter
    assert letter is not None
    return letter


def _origin(message: TailedMessage) -> Position:
    letter = _letter(message)
    return letter.topic, letter.partition, letter.offset


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


# quarantined outbound events ---------------------------------------------------


async def list_quarantined(store: Store, as_json: bool, out: TextIO) -> int:
    """Outbound events that could never be published: id, topic, reason."""
    entries = await store.quarantined()
    for entry, reason in entries:
        if as_json:
            print(json.dumps(_quarantine_row(entry, reason)), file=out)
        else:
            print(f"{entry.id}  {entry.topic}  {reason}", file=out)
    if not entries and not as_json:
        print("no quarantined events", file=out)
    return 0


def _quarantine_row(entry: OutboxEntry, reason: str) -> dict[str, Any]:
    return {
        "id": entry.id,
        "topic": entry.topic,
        "key": entry.key,
        "bytes": len(entry.value.encode()),
        "reason": reason,
    }


async def retry_quarantined(
    store: Store, bootstrap: Brokers, ids: Sequence[str], out: TextIO, err: TextIO
) -> int:
    """Publish quarantined events again (all, or those of ``ids``), byte for byte, to
    their topic with their key; each one acknowledged leaves the quarantine, each one
    that fails again stays with the new reason (exit status 1)."""
    entries = await store.quarantined()
    chosen = _chosen_entries(entries, ids, err)
    if chosen is None:
        return 1
    if not chosen:
        print("no quarantined events", file=out)
        return 0
    producer = AIOKafkaProducer(**client_kwargs(bootstrap), acks="all", enable_idempotence=True)
    try:
        await producer.start()
        failed = [e for e in chosen if not await _retry_one(store, producer, e, out, err)]
    finally:
        await producer.stop()
    return 1 if failed else 0


def _chosen_entries(
    entries: Sequence[tuple[OutboxEntry, str]], ids: Sequence[str], err: TextIO
) -> list[OutboxEntry] | None:
    by_id = {entry.id: entry for entry, _ in entries}
    unknown = [i for i in dict.fromkeys(ids) if i not in by_id]
    for event_id in unknown:
        print(f"no quarantined event {event_id!r}", file=err)
    if unknown:
        return None
    return [by_id[i] for i in dict.fromkeys(ids)] if ids else list(by_id.values())


async def _retry_one(
    store: Store, producer: AIOKafkaProducer, entry: OutboxEntry, out: TextIO, err: TextIO
) -> bool:
    try:
        sent = await producer.send_and_wait(
            entry.topic, entry.value.encode(), key=entry.key.encode()
        )
    except Exception as exc:
        reason = describe(exc)
        await store.quarantine_events([(entry, reason)])
        print(f"event {entry.id} still cannot be published to {entry.topic}: {reason}", file=err)
        return False
    await store.release_quarantined([entry.id])
    print(f"published event {entry.id} to {entry.topic} {sent.partition}:{sent.offset}", file=out)
    return True
