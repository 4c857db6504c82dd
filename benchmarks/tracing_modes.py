"""``--tracing``: the benchmarks run with tracing off, on, or both in the same run (i19).

Tracing on is every span recorded (``OTEL_TRACES_SAMPLER=always_on``) and batched, then
dropped by the exporter (``OTEL_TRACES_EXPORTER=lmp-drop``): what tracing costs the
process, without a collector's network in the figure.
"""

from __future__ import annotations

import argparse

from services.observability.tracing import DROP

MODES = {
    "off": {"OTEL_TRACES_EXPORTER": "none"},
    "on": {"OTEL_TRACES_EXPORTER": DROP, "OTEL_TRACES_SAMPLER": "always_on"},
}


def add_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracing",
        choices=["off", "on", "both"],
        default="off",
        help="tracing in the processors: off, on (every span, exported to nowhere), or both "
        "in the same run, off first",
    )


def modes(choice: str) -> list[str]:
    return ["off", "on"] if choice == "both" else [choice]
