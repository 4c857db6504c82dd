"""The console entry: ``lmp-billing demo`` and its options."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pydantic import TypeAdapter, ValidationError
from rich.console import Console

from schemas.common import Cycle
from tooling.demo.errors import DemoError
from tooling.demo.plan import STORIES, Plan
from tooling.demo.run import DemoOptions, play


def _cycle(text: str) -> str:
    try:
        return TypeAdapter(Cycle).validate_python(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(f"not a cycle: {text!r} (YYYY-MM)") from exc


def _partners(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < len(Plan):
        raise argparse.ArgumentTypeError(
            f"at least {len(Plan)} partners, one for each path through the month"
        )
    return value


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--partners", type=_partners, default=60, metavar="N", help="MSP partners (default 60)"
    )
    parser.add_argument(
        "--distributors",
        type=int,
        default=3,
        metavar="M",
        help="distributors, spread over EMEA/EUR, NA/USD and APAC/AUD (default 3)",
    )
    parser.add_argument(
        "--cycle",
        type=_cycle,
        metavar="YYYY-MM",
        help="the month to play (default: the previous month, so deadlines can have passed)",
    )
    parser.add_argument(
        "--api", metavar="URL", help="the read API (default http://LMP_API_HOST:LMP_API_PORT)"
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="an operations key (default: one made for the run and revoked at its end)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long each step may take before the demo gives up (default 60)",
    )
    parser.add_argument(
        "--seed", type=int, help="the same seed plays the same month (ids stay unique per run)"
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from services import bootstrap

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    options = DemoOptions(
        partners=args.partners,
        distributors=args.distributors,
        cycle=args.cycle,
        api=args.api,
        api_key=args.api_key,
        timeout=args.timeout,
        seed=args.seed,
    )
    try:
        summary = asyncio.run(play(options, bootstrap.servers(bootstrap.settings()), Console()))
    except DemoError as exc:
        print(f"lmp-billing demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 1 if summary.unexpected else 0


DESCRIPTION = """\
Against the system `lmp-billing up` runs (processors and read API), play a month:
accounts, prices and promotional codes; usage; partner drafts and submissions;
distributor reviews with refusals and rejections; Trend Micro's answers; late usage
and malformed messages. Each step waits on what the processors do with it. Then print
the run's billing reports as the read API lists them, and what was refused or
dead-lettered. Exit status 1 when a server does not answer, a step times out, or a
report ends elsewhere than its partner's path says.

Each partner follows one path (every path at least once):
"""


def _description() -> str:
    return DESCRIPTION + "\n".join(f"  {plan.value:26} {story}" for plan, story in STORIES.items())


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="play a realistic month against the running system and summarize it",
        description=_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _arguments(demo)
    demo.set_defaults(func=cmd_demo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lmp-billing demo",
        description=_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _arguments(parser)
    return cmd_demo(parser.parse_args(argv))
