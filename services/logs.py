"""The one logging set-up of every entry point, at the level ``LMP_LOG_LEVEL`` names.

``lmp-billing`` configures logging once, before any command runs (``configure``); a
processor's faust worker sets up its own handlers at the same, validated level
(``Settings.log_level``, read with ``level_name``), then gets the same format
(``adopt_worker``). ``LMP_LOG_FORMAT`` picks text (default) or JSON lines, each with the
ids of the message being worked on (``services.observability.log_format``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from services.observability import log_format

LEVELS = ("debug", "info", "warning", "error", "critical")
"""What ``LMP_LOG_LEVEL`` accepts (in any case)."""

ENV_VAR = "LMP_LOG_LEVEL"
DEFAULT = "info"
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def level_name(text: str) -> str:
    """``text`` as one of ``LEVELS``; a ValueError naming the accepted ones otherwise."""
    name = text.strip().lower()
    if name not in LEVELS:
        raise ValueError(f"{text!r} is not a log level; one of {', '.join(LEVELS)}")
    return name


def level_from_environment() -> str:
    """``LMP_LOG_LEVEL``, validated (unset or empty: info)."""
    given = os.environ.get(ENV_VAR, "")
    if not given.strip():
        return DEFAULT
    try:
        return level_name(given)
    except ValueError as exc:
        raise ValueError(f"{ENV_VAR}: {exc}") from None


def configure(level: str, kind: str | None = None) -> None:
    """The root logger at ``level``, writing to stderr unless it has handlers already, in
    the format ``kind`` (``LMP_LOG_FORMAT`` when None)."""
    name = level_name(level).upper()
    logging.basicConfig(level=name, format=FORMAT)
    logging.getLogger().setLevel(name)
    format_handlers(kind)


def format_handlers(kind: str | None = None) -> None:
    """Every handler of the root logger in the format ``kind`` (``LMP_LOG_FORMAT``)."""
    chosen = kind or log_format.format_from_environment()
    for handler in logging.getLogger().handlers:
        log_format.apply(handler, chosen, FORMAT)


def adopt_worker(worker: Any) -> None:
    """Format a faust worker's handlers as ours once it has set them up."""
    original = worker.on_setup_root_logger

    def on_setup_root_logger(logger: logging.Logger, level: int) -> None:
        original(logger, level)
        format_handlers()

    worker.on_setup_root_logger = on_setup_root_logger
