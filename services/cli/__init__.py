"""``lmp-billing``: run the system, one processor, the embedded servers, and ops chores.

One module per command group: ``serve`` (process, api), ``publish``, ``topics``, ``tail``,
``dlq``, ``outbox``, ``keys``, ``schemas``; ``up``, ``infra`` and ``demo`` come from the
development tooling when it is installed (an ``lmp_billing.commands`` entry point,
``services.plugins``). ``shell`` holds what
they share; ``options`` the global options. Servers and collaborators come from
``services.bootstrap``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from services import bootstrap
from services.cli import (
    dlq,
    example,
    keys,
    openapi,
    options,
    outbox,
    publish,
    schemas,
    serve,
    tail,
    topics,
)
from services.cli.shell import run, settings_problems
from services.plugins import command_plugins

TOOLING_COMMANDS = ("up", "infra", "demo")
"""The development tooling's commands (a plugin), absent from a production install."""

HELP = (
    "Run the system, one processor, the embedded servers, and operations chores. "
    "Every command reads the environment (KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI, LMP_*); "
    "the global options below win over it."
)

__all__ = ["TOOLING_COMMANDS", "application", "main", "settings_problems"]


def application() -> typer.Typer:
    """Every command of ``lmp-billing``."""
    app = typer.Typer(
        name="lmp-billing",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    app.callback()(options.global_options)
    serve.register(app)
    publish.register(app)
    app.add_typer(topics.app, name="topics", help="the topics of topics.yaml: create, list, ACLs")
    tail.register(app)
    app.add_typer(dlq.app, name="dlq", help="the dead-letter topic: list, replay")
    app.add_typer(
        outbox.app,
        name="outbox",
        help="outbound events that could never be published: list, retry",
    )
    app.add_typer(keys.app, name="keys", help="API keys of the read API: create, list, revoke")
    app.add_typer(schemas.app, name="schemas", help="export JSON Schemas for integrators")
    app.add_typer(openapi.app, name="openapi", help="export the read API's OpenAPI document")
    example.register(app)
    for add_commands in command_plugins():
        add_commands(app)
    return app


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    command = options.command_name(given)
    if command in TOOLING_COMMANDS and not command_plugins():
        print(
            f"lmp-billing {command}: the development tooling (embedded servers, `up`, "
            "the demo) is not installed here; in a checkout: pip install -e ./tooling",
            file=sys.stderr,
        )
        return 2
    with _environment_kept(bootstrap.SERVER_VARIABLES):
        return run(application(), given, "lmp-billing")


@contextmanager
def _environment_kept(names: tuple[str, ...]) -> Iterator[None]:
    """The global options set server variables for the command (and the processes it
    starts); a caller of ``main`` in the same process gets its environment back."""
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
