"""The shell without servers: the in-memory store, a producer that keeps what it is
sent, and a processor's runtime built on them, for unit tests that run in seconds.

The in-memory store is held to the MongoDB store's behaviour by
``tests/contract/test_store_contract.py``; the producer answers as the broker does for
each record (acknowledged, or the error the test says the broker gives).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.adapters.catalogue import Catalogue
from services.adapters.codec import InboundMessage
from services.adapters.publisher import Publisher
from services.adapters.store.memory import MemoryStore
from services.runtime.context import Runtime, build_runtime
from services.settings import Settings

Refusal = Callable[[str, bytes | None, bytes | None], BaseException | None]


class FakeProducer:
    """The faust ``send`` shape: each record is acknowledged and kept, or answered with
    the error ``refuse`` gives for it (as a broker answers through the send's future)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.sent_headers: list[Any] = []
        """The headers of each record of ``sent``, in the same order."""
        self.refuse: Refusal = lambda _topic, _key, _value: None

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> asyncio.Future[None]:
        del partition, timestamp  # the producer's interface: one partition, no clock here
        if headers is not None and not isinstance(headers, list):
            # As aiokafka's compiled record builder answers (faust passes them on as given).
            raise TypeError(f"Expected list, got {type(headers).__name__}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        error = self.refuse(topic, key, value)
        if error is None:
            self.sent.append((topic, key, value))
            self.sent_headers.append(headers)
            future.set_result(None)
        else:
            future.set_exception(error)
        return future

    def events(self, topic: str) -> list[dict[str, Any]]:
        """Every value acknowledged on ``topic``, as JSON, in order."""
        return [json.loads(value) for t, _, value in self.sent if t == topic and value]


@dataclass
class Shell:
    """One processor's world in memory, on a clock the test moves."""

    now: datetime = datetime(2026, 10, 20, 12, tzinfo=UTC)
    store: MemoryStore = field(default_factory=MemoryStore)
    producer: FakeProducer = field(default_factory=FakeProducer)
    settings: Settings = field(default_factory=Settings)

    def __post_init__(self) -> None:
        self.catalogue = Catalogue.load(*self.settings.catalogue_args())
        self._offsets = 0
        self._runtimes: dict[str, Runtime] = {}

    def runtime(self, name: str) -> Runtime:
        """Processor ``name``'s runtime: one per name, as one process keeps one."""
        if name not in self._runtimes:
            publisher = Publisher(lambda: self.producer)
            self._runtimes[name] = build_runtime(
                name, self.settings, self.catalogue, self.store, publisher, lambda: self.now
            )
        return self._runtimes[name]

    def message(self, topic: str, record: tuple[bytes | None, bytes | None]) -> InboundMessage:
        """``record`` (key, value) as delivered on ``topic``, at the next offset."""
        self._offsets += 1
        return InboundMessage(self.catalogue.physical(topic), 0, self._offsets, *record)

    def events(self, topic: str) -> list[dict[str, Any]]:
        return self.producer.events(self.catalogue.physical(topic))
