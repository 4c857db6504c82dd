"""Batches in flight: run to their end before anything may be acknowledged.

faust acks a cancelled ``take_events`` batch, and a process may be asked to stop while a
batch is half applied; both consumer paths therefore finish the batch first, report a
batch that takes unusually long (with where it waits), and exit without acknowledging a
batch that cannot finish within the grace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from services.runtime.exits import ExitCode, exit_uncommitted

log = logging.getLogger(__name__)


async def finish_before_acking(work: Awaitable[None], grace_seconds: float) -> None:
    """Run a batch to its end even when the agent is cancelled (SIGTERM, rebalance).

    faust's ``take_events`` acks the whole batch in a ``finally`` as soon as the agent
    stops waiting for it, and acked offsets are committed when the consumer stops: a
    cancelled batch would be committed unapplied. So a cancellation waits for the batch
    (up to ``grace_seconds``) and only then lets faust ack; a batch that cannot finish in
    that time (a server away) ends the process before anything is acked, and the batch
    is delivered again to whoever takes the partition. A batch that takes unusually long
    says so, with what it is waiting on.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    deadline: float | None = None
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not task.done():
        try:
            wait = STALL_REPORT_SECONDS
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - loop.time()))
            await asyncio.wait_for(asyncio.shield(task), wait)
        except asyncio.CancelledError:
            if not cancelled:
                log.warning("stopping: finishing the batch in flight before acking it")
            cancelled = True
            deadline = deadline or loop.time() + grace_seconds
        except TimeoutError:
            if deadline is not None and loop.time() >= deadline:
                log.error(
                    "the batch in flight did not finish within %.0fs of the stop; exiting "
                    "without acknowledging it (it will be delivered again)",
                    grace_seconds,
                )
                exit_uncommitted(ExitCode.TEMPFAIL)
            report_stall(task, loop.time() - started)
    task.result()
    if cancelled:
        raise asyncio.CancelledError


STALL_REPORT_SECONDS = 30.0
"""A batch in flight longer than this is reported (and again every as long)."""


def report_stall(task: asyncio.Future[None], seconds: float) -> None:
    """Log a batch that has not finished, with the frames it is waiting in."""
    frames = []
    if isinstance(task, asyncio.Task):
        frames = [
            f"{f.f_code.co_filename}:{f.f_lineno} {f.f_code.co_name}" for f in task.get_stack()
        ]
    log.warning(
        "a batch has been in flight for %.0fs; waiting in: %s", seconds, " <- ".join(frames) or "?"
    )
