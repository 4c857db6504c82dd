"""``lmp-billing openapi export``: the read API's OpenAPI document, without a server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True)

COMMITTED = "docs/openapi.json"
"""The document's committed copy (a unit test fails when it differs from the code's)."""


def document_text(server: str | None = None) -> str:
    """The document as written to a file: stable key order, two-space indent, final newline."""
    from services.api.openapi import DEFAULT_SERVER, openapi_document
    from services.api.server import ROUTES

    document: dict[str, Any] = openapi_document(ROUTES, server or DEFAULT_SERVER)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@app.command("export", help=f"write the OpenAPI 3.1 document (e.g. {COMMITTED}; '-' for stdout)")
def export(
    file: Annotated[str, typer.Argument(metavar="FILE")],
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            metavar="URL",
            help="the API's base URL in `servers` (default '/': the server the document is "
            "fetched from)",
        ),
    ] = None,
) -> int:
    text = document_text(server)
    if file == "-":
        sys.stdout.write(text)
        return 0
    path = Path(file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote the OpenAPI document to {path}", file=sys.stderr)
    return 0
