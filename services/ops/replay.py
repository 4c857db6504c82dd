"""Replaying dead letters: their original bytes and key back to their original partition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from aiokafka import AIOKafkaProducer, TopicPartition

from schemas.events import DeadLetter
from services.adapters.catalogue import Catalogue
from services.adapters.cloudevents_binding import Headers
from services.adapters.dead_letters import original_headers
from services.adapters.kafka_security import Brokers, client_kwargs
from services.adapters.publisher import DEAD_LETTER_TOPIC
from services.ops.letters import (
    dead_letters,
    find_replays,
    letter_of,
    letter_position,
    marker_of,
    marker_position,
    origin_of,
    position_text,
)
from services.ops.messages import REPLAYED_FROM, TailedMessage, letter_bytes, read_message
from services.ops.reading import TopicRecord, live_topic_partitions, read_at


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
        chosen = [m for m in chosen if letter_of(m).error_kind == request.error_kind]
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
    await live_topic_partitions(bootstrap, [dlq])
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
        print(f"offset {letter_position(m)} on {dlq} is not a dead letter: {m.error}", file=err)
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
    done = [m for m in chosen if marker_of(m) in replays]
    for m in done:
        topic, partition, offset = replays[marker_of(m)]
        print(
            f"dead letter {letter_position(m)} was already replayed to {topic} {partition}:{offset}"
            + (" (--force replays it again)" if request.positions else "; skipped"),
            file=err if request.positions else out,
        )
    if done and request.positions:
        return None
    todo = [m for m in chosen if marker_of(m) not in replays]
    if request.positions:
        return todo
    # A replay that failed again is dead-lettered again: replaying that one too would
    # add a generation per run, so --all leaves it to an explicit --offset.
    replayed_as = {destination: marker for marker, destination in replays.items()}
    kept = []
    for m in todo:
        letter = letter_of(m)
        first = replayed_as.get((letter.topic, letter.partition, letter.offset))
        if first is None:
            kept.append(m)
            continue
        print(
            f"dead letter {letter_position(m)} is the replay of dead letter "
            f"{position_text(*marker_position(first))} failing again; skipped "
            f"(--offset {letter_position(m)} replays it)",
            file=out,
        )
    return kept


@dataclass(frozen=True)
class Replay:
    """What replaying one dead letter publishes: the original key, value (None: a
    tombstone) and headers (a binary-mode event's attributes), and whether they were read
    back at the origin (the letter left them out)."""

    message: TailedMessage
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    from_origin: bool = False

    def replay_headers(self) -> list[tuple[str, bytes]]:
        """The original headers, and where the copy comes from (instead of where an
        earlier replay came from, when the original was itself a replay)."""
        marker = marker_of(self.message).encode()
        return [*((k, v) for k, v in self.headers if k != REPLAYED_FROM), (REPLAYED_FROM, marker)]


async def _replays(
    bootstrap: Brokers, todo: Sequence[TailedMessage], err: TextIO
) -> tuple[list[Replay], int]:
    """The bytes to republish for each dead letter, and how many were refused (said on
    ``err``): a left-out original is read at its origin while the topic retains it."""
    omitted = [origin_of(m) for m in todo if letter_of(m).value_omitted]
    originals, ranges = await read_at(bootstrap, omitted) if omitted else ({}, {})
    replays: list[Replay] = []
    for m in todo:
        topic, partition, _ = origin_of(m)
        retained = ranges.get(TopicPartition(topic, partition))
        replay = _replay(m, originals.get(origin_of(m)), retained)
        if isinstance(replay, Replay):
            replays.append(replay)
        else:
            print(f"dead letter {letter_position(m)} cannot be replayed: {replay}", file=err)
    return replays, len(todo) - len(replays)


def _replay(
    message: TailedMessage, original: TopicRecord | None, retained: tuple[int, int] | None
) -> Replay | str:
    """The replay of one dead letter, or why there is none; ``original`` is the record at
    its origin and ``retained`` what the origin's partition holds (for a left-out value)."""
    letter = letter_of(message)
    if letter.value_omitted:  # (headers are left out only after the value)
        if original is None:
            return _gone(letter, retained)
        return Replay(message, original.key, original.value, original.headers, from_origin=True)
    try:
        key, value = letter_bytes(letter, message.record.key)
        headers = original_headers(letter)
    except ValueError as exc:
        return f"its base64 does not decode: {exc}"
    if value is None and letter.value_size is not None:
        return f"it carries none of the original's {letter.value_size} bytes"
    return Replay(message, key, value, headers)


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
            letter = letter_of(replay.message)
            sent = await producer.send_and_wait(
                letter.topic,
                replay.value,
                key=replay.key,
                partition=letter.partition,
                headers=replay.replay_headers(),
            )
            size = "a tombstone" if replay.value is None else f"{len(replay.value)} bytes"
            read = ", read back at the origin" if replay.from_origin else ""
            print(
                f"replayed dead letter {letter_position(replay.message)} "
                f"({letter.error_kind}, {letter.message_id or 'no message id'}) to "
                f"{letter.topic} {sent.partition}:{sent.offset} "
                f"(originally {letter.partition}:{letter.offset}, {size}{read})",
                file=out,
            )
    finally:
        await producer.stop()
