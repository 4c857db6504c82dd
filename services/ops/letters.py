"""The dead-letter topic: its letters, their listing, and where each was replayed to."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TextIO

from aiokafka import TopicPartition

from schemas.events import DeadLetter
from services.adapters.catalogue import Catalogue
from services.adapters.kafka_security import Brokers
from services.adapters.publisher import DEAD_LETTER_TOPIC
from services.ops.messages import REPLAYED_FROM, TailedMessage, read_message
from services.ops.reading import (
    Position,
    live_topic_partitions,
    open_consumer,
    read_range,
    read_records,
)
from services.ops.render import iso_time, json_line

REPLAY_CLOCK_MARGIN = timedelta(hours=1)
"""Replays are looked for from this long before the dead letter was written (clock skew)."""


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
        "time": iso_time(rec.time),
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
            print(json_line(row), file=out)
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
        letter = letter_of(m)
        wanted.add(marker_of(m))
        tp = TopicPartition(letter.topic, letter.partition)
        since_ms = m.record.timestamp_ms - int(REPLAY_CLOCK_MARGIN.total_seconds() * 1000)
        offset, at = earliest.get(tp, (letter.offset, since_ms))
        earliest[tp] = (min(offset, letter.offset), min(at, since_ms))
    if not earliest:
        return {}
    found: dict[str, tuple[str, int, int]] = {}
    await live_topic_partitions(bootstrap, {tp.topic for tp in earliest})
    async with open_consumer(bootstrap) as consumer:
        by_time = await consumer.offsets_for_times({tp: at for tp, (_, at) in earliest.items()})
        ends: dict[TopicPartition, int] = await consumer.end_offsets(list(earliest))
        starts = {
            tp: max(offset + 1, by_time[tp].offset if by_time[tp] else ends[tp])
            for tp, (offset, _) in earliest.items()
        }
        async for record in read_range(consumer, starts, ends):
            marker = record.header(REPLAYED_FROM)
            if marker in wanted:
                found.setdefault(marker, (record.topic, record.partition, record.offset))
    return found


def letter_position(message: TailedMessage) -> str:
    return position_text(message.record.partition, message.record.offset)


def marker_position(marker: str) -> tuple[int, int]:
    _topic, partition, offset = marker.rsplit(":", 2)
    return int(partition), int(offset)


def letter_of(message: TailedMessage) -> DeadLetter:
    letter = message.letter
    assert letter is not None
    return letter


def origin_of(message: TailedMessage) -> Position:
    letter = letter_of(message)
    return letter.topic, letter.partition, letter.offset


def marker_of(message: TailedMessage) -> str:
    return replay_marker(message.record.topic, message.record.partition, message.record.offset)
