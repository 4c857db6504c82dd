"""The development tooling's commands: ``up``, ``infra`` and ``demo``.

Registered on ``lmp-billing`` when the tooling is installed (``services.cli``); a
production install leaves the package out and the commands say so.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from services import bootstrap
from tooling.demo import add_commands as add_demo_commands
from tooling.infra.local import LocalInfra
from tooling.infra.process import InfraError


def add_commands(sub: Any) -> None:
    up = sub.add_parser("up", help="embedded Kafka and MongoDB-wire servers plus every processor")
    up.add_argument("--keep-servers", action="store_true", help="leave the servers running on exit")
    up.add_argument(
        "--instances",
        type=_positive,
        default=1,
        help="processes of each processor, one consumer group each (default 1)",
    )
    up.set_defaults(func=_reporting(_up))
    infra = sub.add_parser("infra", help="the embedded servers alone")
    infra.add_argument("action", choices=["install", "up", "down", "status"])
    infra.add_argument(
        "--brokers",
        type=int,
        help="embedded Kafka nodes: 1, or a local cluster of 3 or more whose topics are "
        "replicated 3 times (default LMP_KAFKA_BROKERS, 1)",
    )
    infra.set_defaults(func=_reporting(cmd_infra))
    add_demo_commands(sub)


def _reporting(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``command``, with a server that will not start said in one line (exit status 1)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except InfraError as exc:
            print(f"lmp-billing: {exc}", file=sys.stderr)
            return 1

    return run


def _up(args: argparse.Namespace) -> int:
    from tooling.up import cmd_up

    return cmd_up(args)


def cmd_infra(args: argparse.Namespace) -> int:
    settings = bootstrap.settings()
    if args.brokers is not None:
        settings = settings.model_copy(update={"kafka_brokers": args.brokers})
    infra = LocalInfra.from_settings(settings)
    if args.action == "install":
        infra.install()
    elif args.action == "up":
        infra.up()
    elif args.action == "down":
        infra.down()
    for name, state, where in infra.status():
        print(f"{name:8} {state:9} {where}")
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)
