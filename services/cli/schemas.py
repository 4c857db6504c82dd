"""``lmp-billing schemas export``: the JSON Schemas of every message, for integrators.

The files are generated from the models the codec decodes with (services/adapters/
contract.py) and committed in ``schemas/json/``; a unit test fails when they drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)

DEFAULT_DIRECTORY = "schemas/json"


@app.command(
    "export",
    help="write a JSON Schema per message type, one of the report and index.json "
    f"(default directory: {DEFAULT_DIRECTORY}, where they are committed)",
)
def export(
    directory: Annotated[
        str, typer.Argument(metavar="DIR", help="where to write them (created if missing)")
    ] = DEFAULT_DIRECTORY,
) -> int:
    from services import bootstrap
    from services.adapters import contract
    from services.adapters.catalogue import Catalogue

    catalogue = Catalogue.load(bootstrap.settings().topics_file)
    written = contract.export(catalogue, Path(directory))
    print(f"wrote {len(written)} files to {directory}")
    return 0
