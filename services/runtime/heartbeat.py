"""A processor's sign of life for a container healthcheck: a file it touches while well.

A processor has no port to probe. With ``LMP_HEARTBEAT_FILE`` set it touches that file
every few seconds, from a timer on its event loop, once its database answers a ping; a
loop that is stuck or a database that does not answer stops the beats.
``python -m services.runtime.heartbeat`` exits 0 while the last beat is recent and 1, with
the reason, when it is not (docker-compose.yml's processor healthcheck).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

INTERVAL_SECONDS = 5.0
MAX_AGE_SECONDS = 30.0
"""Six beats missed: a long garbage collection or a slow ping is not yet a sick process."""


def beat(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def problem(path: Path | None, max_age: float, now: float) -> str | None:
    """Why the processor does not look healthy, or None when its last beat is recent."""
    if path is None:
        return "LMP_HEARTBEAT_FILE is not set: this process does not beat"
    try:
        age = now - path.stat().st_mtime
    except FileNotFoundError:
        return f"no heartbeat yet at {path}"
    if age > max_age:
        return f"last heartbeat {age:.1f} s ago at {path} (more than {max_age:g} s)"
    return None


def main(argv: list[str] | None = None) -> int:
    from services.settings import Settings

    parser = argparse.ArgumentParser(
        prog="python -m services.runtime.heartbeat",
        description="Exit 0 while this container's processor beats (LMP_HEARTBEAT_FILE).",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=MAX_AGE_SECONDS,
        metavar="SECONDS",
        help=f"oldest last beat that is healthy (default {MAX_AGE_SECONDS:g})",
    )
    args = parser.parse_args(argv)
    if args.max_age <= 0:
        parser.error("--max-age must be positive")
    found = problem(Settings().heartbeat_file, args.max_age, time.time())
    if found is not None:
        print(f"unhealthy: {found}", file=sys.stderr)
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
