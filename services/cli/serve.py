"""``lmp-billing process`` and ``lmp-billing api``: one processor, or the read API, in this
process until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer

from services import bootstrap
from services.cli.shell import JsonOption

if TYPE_CHECKING:
    from services.runtime.context import ProcessorSpec

WORKERS_HELP = (
    "processes serving the port (default LMP_API_WORKERS or 1); more than one "
    "share it with SO_REUSEPORT under a parent that starts and stops them"
)


PROCESS_HELP = (
    "Run processor NAME in this process (its own consumer group) until SIGTERM or "
    "Ctrl-C; it creates the topics of topics.yaml that are missing. Without NAME, or "
    "with --list, list the processors and the topics each one reads."
)


def register(app: typer.Typer) -> None:
    app.command("process", short_help="run one processor, or list them", help=PROCESS_HELP)(process)
    app.command("api", help="serve the read API (OpenAPI at /openapi.json)")(api)


def process(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME", help="a processor, as --list shows them", show_default=False
        ),
    ] = None,
    listing: Annotated[
        bool, typer.Option("--list", help="list the processors instead of running one")
    ] = False,
    as_json: JsonOption = False,
) -> int:
    """Run one processor in this process until SIGTERM/SIGINT, or list them."""
    from services.adapters.catalogue import ensure_topics
    from services.adapters.kafka_security import kafka_connection
    from services.processors import registry

    specs = registry()
    if listing or name is None:
        return _list_processors(specs, as_json)
    if name not in specs:
        print(
            f"lmp-billing process: unknown processor {name!r}; one of: {', '.join(specs)}",
            file=sys.stderr,
        )
        return 2
    settings = bootstrap.settings()
    if not settings.kafka_bootstrap_servers or not settings.mongodb_uri:
        print(
            "KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI must be set (or use `lmp-billing up`)",
            file=sys.stderr,
        )
        return 2
    asyncio.run(ensure_topics(bootstrap.catalogue(settings), kafka_connection(settings)))
    bootstrap.run_processor(settings, specs[name])
    return 0


def _list_processors(specs: Mapping[str, ProcessorSpec], as_json: bool) -> int:
    """One processor a line: its name (text), or name and topics read (JSON Lines)."""
    from services.ops.render import json_line

    for spec in specs.values():
        print(json_line({"name": spec.name, "topics": list(spec.topics)}) if as_json else spec.name)
    return 0


def api(
    host: Annotated[
        str | None,
        typer.Option(
            "--host", metavar="ADDRESS", help="listen address (default LMP_API_HOST or 127.0.0.1)"
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", metavar="PORT", help="listen port (default LMP_API_PORT or 8080)"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", metavar="N", help=WORKERS_HELP)
    ] = None,
    lifeline_fd: Annotated[int | None, typer.Option("--lifeline-fd", hidden=True)] = None,
) -> int:
    """Serve on uvloop: its event loop and transports cost the API a fraction of asyncio's."""
    import uvloop

    from services.api.run import serve

    if workers is not None and workers < 1:
        raise typer.BadParameter(
            f"a number of processes, at least 1, not {str(workers)!r}", param_hint="--workers"
        )
    settings = bootstrap.servers(bootstrap.settings())
    if port is not None:
        settings = settings.model_copy(update={"api_port": port})
    if host is not None:
        settings = settings.model_copy(update={"api_host": host})
    if lifeline_fd is not None:
        uvloop.run(serve(settings, socket.socket(fileno=lifeline_fd)))
        return 0
    count = workers if workers is not None else settings.api_workers
    if count > 1:
        from services.api.workers import run_pool

        return run_pool(settings, count)
    uvloop.run(serve(settings))
    return 0
