"""``lmp-billing example TYPE``: one valid event of an inbound type, ready to publish."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

HELP = (
    "Print one valid structured-mode CloudEvent of an inbound type, on one line, taken "
    "from the `examples` of its JSON Schema: `lmp-billing example lmp.usage.reported | "
    "lmp-billing publish lmp.usage.v1 -`. The examples belong together (partner P-1001, "
    "distributor D-EMEA, region EMEA, product TM-WFBS): published in turn they open and "
    "price the report P-1001:<cycle>. Cycle and times are filled in at print time (the "
    "current cycle unless --cycle), so an example never names a cycle already past its "
    "deadline. Without TYPE, or with --list: the types and their topics."
)


def register(app: typer.Typer) -> None:
    app.command("example", short_help="print a valid sample event of an inbound type", help=HELP)(
        example
    )


def example(
    message_type: Annotated[
        str | None, typer.Argument(metavar="TYPE", help="an inbound type, e.g. lmp.usage.reported")
    ] = None,
    list_types: Annotated[
        bool, typer.Option("--list", help="list the inbound types and their topics")
    ] = False,
    cycle: Annotated[
        str | None,
        typer.Option(metavar="YYYY-MM", help="the report cycle (default: the current one)"),
    ] = None,
) -> int:
    from services import bootstrap
    from services.adapters import contract
    from services.adapters.catalogue import Catalogue

    catalogue = Catalogue.load(bootstrap.settings().topics_file)
    inbound = [m for m in contract.messages(catalogue) if m.inbound]
    if list_types or message_type is None:
        width = max(len(m.type) for m in inbound)
        for m in inbound:
            print(f"{m.type:<{width}}  {m.topic}")
        return 0
    names = [m.type for m in inbound]
    if message_type not in names:
        print(
            f"lmp-billing example: {message_type!r} is not an inbound type; "
            f"valid types: {', '.join(names)}",
            file=sys.stderr,
        )
        return 2
    if cycle is not None and not contract.is_cycle(cycle):
        print(f"lmp-billing example: --cycle {cycle!r} is not YYYY-MM", file=sys.stderr)
        return 2
    print(contract.example_line(message_type, datetime.now(UTC), cycle))
    return 0
