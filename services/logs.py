"""The one logging set-up of every entry point, at the level ``LMP_LOG_LEVEL`` names.

``lmp-billing`` configures logging once, before any command runs (``configure``); a
processor's faust worker sets up its own handlers at the same, validated level
(``Settings.log_level``, read with ``level_name``).
"""

from __future__ import annotations

import logging
import os

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


def configure(level: str) -> None:
    """The root logger at ``level``, writing to stderr unless it has handlers already."""
    name = level_name(level).upper()
    logging.basicConfig(level=name, format=FORMAT)
    logging.getLogger().setLevel(name)
