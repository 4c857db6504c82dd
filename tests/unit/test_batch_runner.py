"""The batch runner without servers: what may pass is retried, contention is retried as
the whole batch, a message that fails alone is found by halving and dead-lettered, and a
dead letter the broker never takes falls back to a minimal one or is counted lost."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)
from pymongo.errors import AutoReconnect

from services.adapters.codec import InboundMessage, Poison
from services.adapters.counters import DEAD_LETTERED, DEAD_LETTERS_LOST, PROCESSED
from services.runtime.batch_runner import BatchRunner
from services.runtime.unit_of_work import Contended
from tests.fakes import Shell

pytestmark = pytest.mark.unit

TOPIC = "lmp.usage.v1"
DEAD_LETTERS = "lmp.dead-letter.v1"

Failure = Callable[[list[int], int], BaseException | None]


class ScriptedHandler:
    """Records the offsets of every batch it is given; fails as ``fail`` says."""

    def __init__(self, fail: Failure, poison_at: int | None = None) -> None:
        self.fail = fail
        self.poison_at = poison_at
        self.calls: list[list[int]] = []
        self.applied: list[int] = []

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]:
        offsets = [m.offset for m in batch]
        self.calls.append(offsets)
        error = self.fail(offsets, len(self.calls))
        if error is not None:
            raise error
        self.applied += offsets
        return [Poison(m, "schema", "bad units") for m in batch if m.offset == self.poison_at]


def setup(handler: ScriptedHandler, shell: Shell) -> tuple[BatchRunner, list[float]]:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    return BatchRunner(shell.runtime("usage"), handler, sleep=sleep), pauses


def batch(shell: Shell, size: int) -> list[InboundMessage]:
    return [shell.message(TOPIC, (b"P", b'{"not": "decoded here"}')) for _ in range(size)]


async def test_a_transient_error_is_retried_with_growing_pauses_until_it_passes() -> None:
    handler = ScriptedHandler(lambda _, call: AutoReconnect("away") if call <= 3 else None)
    shell = Shell()
    runner, pauses = setup(handler, shell)
    messages = batch(shell, 4)
    await runner.run(messages)
    offsets = [m.offset for m in messages]
    assert handler.calls == [offsets] * 4
    assert handler.applied == offsets
    assert len(pauses) == 3
    assert pauses[0] < 0.5 * 1.5 < pauses[2]  # backing off from retry_backoff_seconds
    assert shell.events(DEAD_LETTERS) == []
    assert runner.runtime.counters.take() == {(messages[0].topic, PROCESSED): 4}


async def test_contention_is_retried_as_the_whole_batch_and_never_dead_lettered() -> None:
    handler = ScriptedHandler(lambda _, call: Contended({"P:2026-10"}) if call <= 2 else None)
    shell = Shell()
    runner, _ = setup(handler, shell)
    messages = batch(shell, 6)
    await runner.run(messages)
    assert [len(call) for call in handler.calls] == [6, 6, 6]
    assert shell.events(DEAD_LETTERS) == []


async def test_a_message_that_fails_alone_is_found_by_halving_and_dead_lettered() -> None:
    shell = Shell()
    messages = batch(shell, 8)
    bad = messages[5].offset
    handler = ScriptedHandler(
        lambda offsets, _: ValueError("no rule for it") if bad in offsets else None
    )
    runner, _ = setup(handler, shell)
    await runner.run(messages)
    assert sorted(handler.applied) == sorted(m.offset for m in messages if m.offset != bad)
    assert [len(call) for call in handler.calls] == [8, 4, 4, 2, 1, 1, 2]
    [letter] = shell.events(DEAD_LETTERS)
    assert letter["data"]["offset"] == bad
    assert letter["data"]["error_kind"] == "processing_error"
    assert "ValueError: no rule for it" in letter["data"]["error"]
    counted = runner.runtime.counters.take()
    assert counted[(messages[0].topic, DEAD_LETTERED)] == 1
    assert counted[(messages[0].topic, PROCESSED)] == 8


async def test_poison_the_handler_returns_is_dead_lettered_with_its_reason() -> None:
    shell = Shell()
    messages = batch(shell, 3)
    handler = ScriptedHandler(lambda _, __: None, poison_at=messages[1].offset)
    runner, _ = setup(handler, shell)
    await runner.run(messages)
    [letter] = shell.events(DEAD_LETTERS)
    assert (letter["data"]["error_kind"], letter["data"]["error"]) == ("schema", "bad units")
    assert letter["data"]["offset"] == messages[1].offset
    assert runner.stats == {"batches": 1, "poison": 1}


async def test_a_dead_letter_too_large_for_the_broker_falls_back_to_a_minimal_one() -> None:
    shell = Shell()
    messages = batch(shell, 1)
    handler = ScriptedHandler(lambda _, __: None, poison_at=messages[0].offset)
    runner, _ = setup(handler, shell)

    def too_large(_topic: str, _key: bytes | None, value: bytes | None) -> BaseException | None:
        return None if value and b"/minimal" in value else MessageSizeTooLargeError()

    shell.producer.refuse = too_large
    await runner.run(messages)
    [letter] = shell.events(DEAD_LETTERS)
    assert letter["id"].endswith("/minimal")
    assert letter["data"]["value_omitted"] is True
    assert DEAD_LETTERS_LOST not in {name for _, name in runner.runtime.counters.take()}


async def test_a_dead_letter_never_publishable_is_counted_lost_and_the_batch_ends() -> None:
    shell = Shell()
    messages = batch(shell, 2)
    handler = ScriptedHandler(lambda _, __: None, poison_at=messages[0].offset)
    runner, _ = setup(handler, shell)
    shell.producer.refuse = lambda _topic, _key, _value: TopicAuthorizationFailedError()
    await runner.run(messages)
    assert shell.producer.sent == []
    assert runner.runtime.counters.take()[(messages[0].topic, DEAD_LETTERS_LOST)] == 1


async def test_a_broker_away_while_dead_lettering_is_waited_out() -> None:
    shell = Shell()
    messages = batch(shell, 1)
    handler = ScriptedHandler(lambda _, __: None, poison_at=messages[0].offset)
    runner, pauses = setup(handler, shell)
    refusals = iter([KafkaConnectionError(), KafkaConnectionError()])
    shell.producer.refuse = lambda _topic, _key, _value: next(refusals, None)
    await runner.run(messages)
    assert len(shell.events(DEAD_LETTERS)) == 1
    assert len(pauses) == 2
