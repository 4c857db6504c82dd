"""``lmp-billing dlq``: the dead-letter topic, listed and replayed."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from services.cli.shell import JsonOption, broker

app = typer.Typer(no_args_is_help=True)

REPLAY_HELP = (
    "Republish each chosen dead letter's original bytes, with its original key, to its "
    "original topic and partition, for the processor to apply again (after a fix). "
    "Every replayed record carries the header lmp-replayed-from, the dead letter's "
    "TOPIC:PARTITION:OFFSET; before replaying, the original "
    "partition is read from the original message on (from an hour before the dead "
    "letter was written) for that header, and a dead letter replayed before is "
    "refused (--offset) or skipped (--all) unless --force. --all also skips the dead "
    "letter of a replay that failed again. A double replay is harmless anyway: "
    "processors recognise a message id they applied, and usage figures are peaks."
)

ErrorKind = Annotated[
    str | None, typer.Option("--error-kind", metavar="K", help="parse, schema, unknown_type, ...")
]


@app.command(
    "list",
    short_help="the dead letters: where from, error kind, error",
    help="dead letters: offset, original topic partition:offset, error kind, error, id",
)
def listing(
    error_kind: ErrorKind = None,
    as_json: JsonOption = False,
) -> int:
    from services import ops

    _, brokers, catalogue = broker()
    try:
        return asyncio.run(
            ops.list_dead_letters(brokers, catalogue, error_kind, as_json, sys.stdout)
        )
    except ops.OpsError as exc:
        print(f"lmp-billing: {exc}", file=sys.stderr)
        return 1


@app.command(
    "replay",
    short_help="republish dead letters' original messages to their original topic",
    help=REPLAY_HELP,
)
def replay(
    offset: Annotated[
        list[str] | None,
        typer.Option(
            "--offset",
            metavar="N",
            help="offset on the dead-letter topic, as `dlq list` shows it (repeatable)",
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="every dead letter not yet replayed")
    ] = False,
    error_kind: Annotated[
        str | None,
        typer.Option("--error-kind", metavar="K", help="with --all: only this error kind"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="replay again what was replayed")] = False,
) -> int:
    from services import ops

    if bool(offset) == every:
        raise typer.BadParameter("give one of --offset or --all", param_hint="--offset/--all")
    positions = [_dlq_position(text) for text in offset or []]
    _, brokers, catalogue = broker()
    if error_kind is not None and not every:
        print("lmp-billing: --error-kind goes with --all", file=sys.stderr)
        return 2
    try:
        request = ops.ReplayRequest(positions, error_kind, force)
        return asyncio.run(
            ops.replay_dead_letters(brokers, catalogue, request, sys.stdout, sys.stderr)
        )
    except ops.OpsError as exc:
        print(f"lmp-billing: {exc}", file=sys.stderr)
        return 1


def _dlq_position(text: str) -> tuple[int, int]:
    """``N`` (partition 0, the dead-letter topic has one) or ``P:N``."""
    partition, _, offset = text.rpartition(":")
    try:
        return int(partition or 0), int(offset)
    except ValueError:
        raise typer.BadParameter(
            f"not an offset: {text!r} (N or PARTITION:N)", param_hint="--offset"
        ) from None
