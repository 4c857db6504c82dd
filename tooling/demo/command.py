"""The console entry: ``lmp-billing demo`` and its options."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError

from schemas.common import Cycle
from services import bootstrap
from services.cli.shell import run
from tooling.demo.errors import DemoError
from tooling.demo.plan import STORIES, Plan


def _cycle(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return TypeAdapter(Cycle).validate_python(text)
    except ValidationError as exc:
        raise typer.BadParameter(f"not a cycle: {text!r} (YYYY-MM)") from exc


def _partners(value: int) -> int:
    if value < len(Plan):
        raise typer.BadParameter(
            f"at least {len(Plan)} partners, one for each path through the month"
        )
    return value


def demo(
    partners: Annotated[
        int,
        typer.Option(
            "--partners",
            metavar="N",
            callback=_partners,
            help="MSP partners (default 60)",
            show_default=False,
        ),
    ] = 60,
    distributors: Annotated[
        int,
        typer.Option(
            "--distributors",
            metavar="M",
            help="distributors, spread over EMEA/EUR, NA/USD and APAC/AUD (default 3)",
            show_default=False,
        ),
    ] = 3,
    cycle: Annotated[
        str | None,
        typer.Option(
            "--cycle",
            metavar="YYYY-MM",
            callback=_cycle,
            help="the month to play (default: the previous month, so deadlines can have passed)",
        ),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(
            "--api", metavar="URL", help="the read API (default http://LMP_API_HOST:LMP_API_PORT)"
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            help="an operations key (default: one made for the run and revoked at its end)",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            help="how long each step may take before the demo gives up (default 60)",
            show_default=False,
        ),
    ] = 60.0,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            metavar="N",
            help="the same seed plays the same month (ids stay unique per run)",
        ),
    ] = None,
) -> int:
    # Imported here: every `lmp-billing` command registers this one, and a processor's
    # start-up has no use for the demo's HTTP client and console.
    from rich.console import Console

    from tooling.demo.run import DemoOptions, play

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    options = DemoOptions(
        partners=partners,
        distributors=distributors,
        cycle=cycle,
        api=api,
        api_key=api_key,
        timeout=timeout,
        seed=seed,
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
    # \b keeps click from rewrapping the list of paths.
    stories = "\n".join(f"  {plan.value:26} {story}" for plan, story in STORIES.items())
    return f"{DESCRIPTION}\n\b\n{stories}"


def register(app: typer.Typer) -> None:
    app.command(
        "demo",
        short_help="play a realistic month against the running system and summarize it",
        help=_description(),
    )(demo)


def main(argv: list[str] | None = None) -> int:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    register(app)
    return run(app, argv, "lmp-billing demo")
