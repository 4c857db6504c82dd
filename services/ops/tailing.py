"""``tail``: matching messages in time order across topics and partitions, then new ones."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from services.adapters.catalogue import Catalogue
from services.adapters.kafka_security import Brokers
from services.ops.merge import merged_in_time
from services.ops.messages import MessageFilter, read_message
from services.ops.reading import (
    TopicRecord,
    live_topic_partitions,
    open_consumer,
    read_range,
    read_window,
)
from services.ops.render import json_line, json_object, text_line


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
            text = json_line(json_object(message)) if request.as_json else text_line(message)
            print(text, file=out, flush=request.follow)

    tps = await live_topic_partitions(bootstrap, request.topics)
    async with open_consumer(bootstrap) as consumer:
        starts, ends = await read_window(consumer, tps, request.since, request.last)
        async with contextlib.aclosing(merged_in_time(consumer, starts, ends, stop)) as backlog:
            async for record in backlog:
                if request.since is None or record.time >= request.since:
                    show(record)
        if request.follow:
            async with contextlib.aclosing(read_range(consumer, ends, None, stop)) as live:
                async for record in live:
                    show(record)
    return 0
