"""Leaving the process without committing or acknowledging what is in flight.

Used where nothing else is safe: the supervisor restarts the process and the batch in
flight is delivered again from the committed offsets.
"""

from __future__ import annotations

import logging
import os
from enum import IntEnum
from typing import NoReturn


class ExitCode(IntEnum):
    """Why a processor left uncommitted (sysexits.h's numbers, which supervisors know)."""

    SOFTWARE = 70
    """EX_SOFTWARE: a failure no retry can cure (a bug, a consumer loop that ended)."""
    TEMPFAIL = 75
    """EX_TEMPFAIL: the batch in flight outlived the stop's grace; it is delivered again."""


def exit_uncommitted(code: ExitCode) -> NoReturn:
    """End the process at once with ``code``, logs flushed, nothing committed or acked.

    ``os._exit`` and not ``sys.exit``: no ``finally`` may run and commit the batch.
    """
    logging.shutdown()
    os._exit(code)
