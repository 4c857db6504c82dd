"""A processor's worker logs at its configured level and no lower.

faust's progress spinner sets the root logger to DEBUG at WARNING and above; every
aiokafka request and PyMongo command then built a debug record, which cost the action
processors a good share of their CPU before the worker stopped using the spinner.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.app import build_worker
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
