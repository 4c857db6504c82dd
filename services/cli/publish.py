"""``lmp-billing publish TOPIC [FILE|-]``: CloudEvents, one per line, onto an inbound topic."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from services import bootstrap
from services.cli.shell import JsonOption, broker

HELP = (
    "Read CloudEvents in structured mode, one JSON object per line (blank lines "
    "skipped), from FILE or stdin, check each one as the processors of TOPIC decode it, "
    "and publish them in order with the record key topics.yaml names for the topic "
    "(acks=all, idempotent producer). Every line is checked before anything is sent: "
    "when one is refused, each refusal is said with its line number and nothing is "
    "published (exit status 2). Prints TOPIC PARTITION OFFSET ID TYPE for each event "
    "published; exit status 1 when the broker did not acknowledge one.\n\n"
    "\b\nExample:\n"
    "  lmp-billing example lmp.usage.reported | lmp-billing publish lmp.usage.v1 -"
)


def register(app: typer.Typer) -> None:
    app.command(
        "publish", short_help="publish CloudEvents from a file or stdin, checked first", help=HELP
    )(publish)


def publish(
    topic: Annotated[
        str,
        typer.Argument(
            metavar="TOPIC",
            help="an inbound topic of topics.yaml, e.g. lmp.usage.v1",
            show_default=False,
        ),
    ],
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="a file of CloudEvents, or - for stdin (the default)",
            show_default=False,
        ),
    ] = "-",
    as_json: JsonOption = False,
) -> int:
    from services import ops
    from services.ops.publishing import InvalidInput, check_events, inbound_topic, publish_events

    catalogue = bootstrap.catalogue(bootstrap.settings())
    try:
        physical = inbound_topic(catalogue, topic)
    except InvalidInput as exc:
        print(f"lmp-billing publish: {exc}", file=sys.stderr)
        return 2
    lines = _read_lines(file)
    if lines is None:
        return 2
    events, refusals = check_events(catalogue, physical, lines)
    if refusals:
        for refusal in refusals:
            print(f"lmp-billing publish: {refusal}", file=sys.stderr)
        print(
            f"lmp-billing publish: {len(refusals)} line(s) refused; nothing published",
            file=sys.stderr,
        )
        return 2
    if not events:
        print("lmp-billing publish: no events in the input; nothing published", file=sys.stderr)
        return 0
    _, brokers, _ = broker()
    try:
        return asyncio.run(
            publish_events(brokers, physical, events, as_json, sys.stdout, sys.stderr)
        )
    except ops.OpsError as exc:
        print(f"lmp-billing publish: {exc}", file=sys.stderr)
        return 1


def _read_lines(file: str) -> list[bytes] | None:
    """The input's lines as bytes (the decoder says what is not UTF-8), or None when the
    file cannot be read (said on stderr)."""
    if file == "-":
        if sys.stdin.isatty():
            print("reading CloudEvents from stdin, one per line (Ctrl-D ends)", file=sys.stderr)
        return sys.stdin.buffer.read().splitlines()
    try:
        return Path(file).read_bytes().splitlines()
    except OSError as exc:
        print(f"lmp-billing publish: cannot read {file}: {exc.strerror}", file=sys.stderr)
        return None
