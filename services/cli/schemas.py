"""``lmp-billing schemas export``: the JSON Schemas of every message, for integrators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("export", help="write a JSON Schema per message type and one of the report")
def export(
    directory: Annotated[
        str,
        typer.Argument(
            metavar="DIR",
            help="where to write them (created if missing; default schemas/json)",
            show_default=False,
        ),
    ] = "schemas/json",
) -> int:
    from schemas.envelope import CloudEvent
    from schemas.registry import MESSAGE_TYPES
    from schemas.report import Report

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for message_type, model in sorted(MESSAGE_TYPES.items()):
        schema = CloudEvent[model].model_json_schema()  # type: ignore[valid-type]
        schema["title"] = message_type
        (out / f"{message_type}.json").write_text(json.dumps(schema, indent=2) + "\n")
    (out / "report.json").write_text(json.dumps(Report.model_json_schema(), indent=2) + "\n")
    print(f"wrote {len(MESSAGE_TYPES) + 1} JSON Schemas to {out}")
    return 0
