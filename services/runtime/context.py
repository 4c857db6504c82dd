"""What a processor is given, and how it is declared."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from services.adapters.catalogue import Catalogue
from services.adapters.codec import InboundMessage, Poison
from services.adapters.counters import Counters
from services.adapters.publisher import Outbox, Publisher
from services.adapters.store import StoreProtocol
from services.domain.calendar import stored_precision
from services.runtime.unit_of_work import UnitOfWork
from services.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """What a handler needs from the outside world, injected."""

    name: str
    settings: Settings
    catalogue: Catalogue
    store: StoreProtocol
    outbox: Outbox
    clock: Clock = utc_now
    counters: Counters = field(default_factory=Counters)

    def now(self) -> datetime:
        """The clock at the precision the database keeps: what is published is what is stored."""
        return stored_precision(self.clock())

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.store, self.outbox, self.now)


def build_runtime(
    name: str,
    settings: Settings,
    catalogue: Catalogue,
    store: StoreProtocol,
    publisher: Publisher,
    clock: Clock = utc_now,
) -> Runtime:
    """Processor ``name``'s runtime: the one wiring of its outbox, used by the bootstrap
    and by the tests' in-memory and real-server worlds alike."""
    outbox = Outbox(
        store,
        publisher,
        catalogue,
        f"lmp-billing/{name}",
        settings.dead_letter_max_bytes,
        clear_after_seconds=settings.outbox_grace_seconds / 2,
    )
    return Runtime(name, settings, catalogue, store, outbox, clock=clock)


class BatchHandler(Protocol):
    """Applies a batch idempotently; returns the messages that are poison.

    Raises only for what a retry can cure (a server away, contention); a message that
    can never be applied comes back as a ``Poison`` with the reason.
    """

    async def handle(self, batch: Sequence[InboundMessage]) -> list[Poison]: ...


@dataclass(frozen=True)
class ProcessorSpec:
    name: str
    topics: tuple[str, ...]
    create: Callable[[Runtime], BatchHandler] | None = None
    """The handler of its topics' batches (none for a processor without topics)."""
    timers: tuple[Callable[[Runtime], Callable[[], Awaitable[None]]], ...] = ()
    """Leader-only periodic jobs, every ``timer_interval_seconds``."""
    latency_sensitive: bool = False
    """People wait on it: batch within ``action_batch_window_seconds``, not the bulk window."""
    consumer: Literal["agent", "bulk"] = "bulk"
    """How it consumes: a faust agent, or aiokafka batches (docs/architecture.md, "Two
    consumer paths")."""

    def __post_init__(self) -> None:
        if bool(self.topics) != (self.create is not None):
            raise ValueError(f"{self.name}: a processor with topics has a handler, and only it")

    def handler(self, runtime: Runtime) -> BatchHandler:
        """The handler of this processor's batches, on ``runtime``."""
        if self.create is None:
            raise ValueError(f"{self.name} consumes no topic")
        return self.create(runtime)
