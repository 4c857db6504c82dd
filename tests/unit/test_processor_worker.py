"""A processor's worker: the level it logs at, how fast it stops, the loop it runs on.

faust's progress spinner sets the root logger to DEBUG at WARNING and above; every
aiokafka request and PyMongo command then built a debug record, which cost the action
processors a good share of their CPU before the worker stopped using the spinner.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop

from services.app import ProcessorWorker, build_worker, uvloop_worker
from services.bootstrap import processor
from services.processors.actions import PARTNER_ACTIONS
from services.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The worker's logging set-up also redirects stdout and stderr: put all of it back."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stdout, stderr = sys.stdout, sys.stderr
    yield
    sys.stdout, sys.stderr = stdout, stderr
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("level", ["warning", "error", "info"])
def test_worker_logs_at_its_level_not_debug(level: str, tmp_path: Path) -> None:
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
        MONGODB_URI="mongodb://127.0.0.1:1",
        home=tmp_path,
        log_level=level,
    )
    worker = build_worker(processor(settings, PARTNER_ACTIONS), settings)

    worker._setup_logging()

    expected = logging.getLevelName(level.upper())
    assert logging.getLogger().getEffectiveLevel() == expected
    for name in ("aiokafka.conn", "aiokafka.consumer.fetcher", "pymongo.command"):
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name


@pytest.mark.usefixtures("restored_logging")
def test_a_stopping_worker_closes_what_it_was_given_and_does_not_wait_idle(
    tmp_path: Path,
) -> None:
    """mode's shutdown waited up to a second for tasks nobody ends (the store's monitors)
    and one more unconditionally: a stop took 2.5 s; now the closing ends those tasks."""
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", MONGODB_URI="mongodb://127.0.0.1:1", home=tmp_path
    )
    loop = asyncio.new_event_loop()
    monitor_stopped = asyncio.Event()

    async def monitor() -> None:  # like PyMongo's: runs until its client is closed
        await monitor_stopped.wait()

    lingering = loop.create_task(monitor())

    async def close_store() -> None:
        monitor_stopped.set()
        await lingering

    app = processor(settings, PARTNER_ACTIONS).app
    worker = ProcessorWorker(app, closing=[close_store], loop=loop, quiet=True)
    try:
        started = time.monotonic()
        worker._shutdown_loop()
        took = time.monotonic() - started
    finally:
        if not loop.is_closed():
            loop.close()
    assert lingering.done()
    assert not lingering.cancelled()  # ended by the closing, not cancelled at the end
    assert took < 1.0, took  # mode's own sentinel alone sleeps a whole second


@pytest.mark.usefixtures("restored_logging")
def test_a_processor_runs_on_uvloop(tmp_path: Path) -> None:
    """Its faust app keeps the loop it finds when built: built before the policy was set,
    the processors ran on asyncio's own loop while meaning to run on uvloop."""
    settings = Settings(
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", MONGODB_URI="mongodb://127.0.0.1:1", home=tmp_path
    )
    policy = asyncio.get_event_loop_policy()
    loops: list[object] = []

    def build() -> None:  # in a thread of its own: this one's loop is pytest's
        built, worker = uvloop_worker(lambda: processor(settings, PARTNER_ACTIONS), settings)
        loops.extend([worker.loop, built.app.loop])
        worker.loop.close()

    try:
        thread = threading.Thread(target=build)
        thread.start()
        thread.join()
    finally:
        asyncio.set_event_loop_policy(policy)
    assert len(loops) == 2
    assert all(isinstance(loop, uvloop.Loop) for loop in loops), loops
