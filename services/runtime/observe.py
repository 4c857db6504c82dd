"""What a batch looks like from outside: its span, its log fields, its metrics.

``BatchRunner.run`` wraps each batch in ``batch``; docs/observability.md says what each
one gives.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence

from services.adapters.codec import InboundMessage, Poison
from services.observability import log_format, tracing
from services.runtime import process_metrics


@contextlib.contextmanager
def batch(
    processor: str,
    messages: Sequence[InboundMessage],
    decode: Callable[[Sequence[InboundMessage]], None],
) -> Iterator[None]:
    """The batch's span (decoded first when tracing, to find its records' traces), the
    log fields of its first and last record, its duration and in-flight count."""
    if not messages:
        yield
        return
    first, last = messages[0], messages[-1]
    fields = log_format.bound(
        topic=first.topic,
        partition=first.partition,
        offset=first.offset,
        last_offset=last.offset if len(messages) > 1 else None,
    )
    with fields, process_metrics.current().batch(len(messages)):
        if not tracing.enabled():
            yield
            return
        started = time.time_ns()
        decode(messages)
        decoded = time.time_ns()
        with tracing.batch(processor, messages):
            tracing.interval("decode", started, decoded, records=len(messages))
            yield


def outcomes(messages: Sequence[InboundMessage], poisons: Sequence[Poison]) -> None:
    """Records applied and dead-lettered, by topic."""
    dead = {id(p.message) for p in poisons}
    process_metrics.current().outcomes(
        [m.topic for m in messages if id(m) not in dead], [p.message.topic for p in poisons]
    )
