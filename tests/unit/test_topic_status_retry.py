"""`topics list` on a cluster with a broker away: a transient failure is asked again."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.errors import NodeNotReadyError, TopicAuthorizationFailedError

from services.adapters import kafka_admin

pytestmark = pytest.mark.unit


def attempts(monkeypatch: pytest.MonkeyPatch, failures: list[Exception]) -> list[int]:
    calls: list[int] = []

    async def once(*_args: Any, **_kwargs: Any) -> list[Any]:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return []

    async def no_wait(_seconds: float) -> None:
        return None

    monkeypatch.setattr(kafka_admin, "_topic_status", once)
    monkeypatch.setattr("services.adapters.kafka_admin.asyncio.sleep", no_wait)
    return calls


async def test_a_broker_not_ready_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = attempts(monkeypatch, [NodeNotReadyError("away"), NodeNotReadyError("away")])
    assert await kafka_admin.topic_status("127.0.0.1:1", None, "g") == []  # type: ignore[arg-type]
    assert len(calls) == 3


async def test_it_gives_up_after_a_few_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = attempts(monkeypatch, [NodeNotReadyError("away")] * 5)
    with pytest.raises(NodeNotReadyError):
        await kafka_admin.topic_status("127.0.0.1:1", None, "g")  # type: ignore[arg-type]
    assert len(calls) == kafka_admin.STATUS_ATTEMPTS


async def test_a_refusal_is_not_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = attempts(monkeypatch, [TopicAuthorizationFailedError("no")])
    with pytest.raises(TopicAuthorizationFailedError):
        await kafka_admin.topic_status("127.0.0.1:1", None, "g")  # type: ignore[arg-type]
    assert len(calls) == 1
