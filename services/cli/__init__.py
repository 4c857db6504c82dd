"""``lmp-billing``: run the system, one processor, the embedded servers, and ops chores.

One module per command group: ``serve`` (process, api), ``topics``, ``tail``, ``dlq``,
``outbox``, ``keys``, ``schemas``; ``up``, ``infra`` and ``demo`` come from the
development tooling (``tooling.commands``) when it is installed. ``shell`` holds what
they share. Servers and collaborators come from ``services.bootstrap``.
"""

from __future__ import annotations

import importlib.util
import logging
import sys

import typer

from services.cli import dlq, example, keys, outbox, schemas, serve, tail, topics
from services.cli.shell import run, settings_problems

TOOLING_COMMANDS = ("up", "infra", "demo")
"""The development tooling's commands (``tooling.commands``), absent from a production install."""

__all__ = ["TOOLING_COMMANDS", "application", "main", "settings_problems"]


def application() -> typer.Typer:
    """Every command of ``lmp-billing``."""
    app = typer.Typer(
        name="lmp-billing",
        help=__doc__.split("\n\n")[0] if __doc__ else None,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    serve.register(app)
    app.add_typer(
        topics.app, name="topics", help="the topics of topics.yaml: create, or show live state"
    )
    tail.register(app)
    app.add_typer(dlq.app, name="dlq", help="the dead-letter topic: list, replay")
    app.add_typer(
        outbox.app,
        name="outbox",
        help="outbound events that could never be published: list, retry",
    )
    app.add_typer(schemas.app, name="schemas", help="export JSON Schemas for integrators")
    example.register(app)
    keys.register(app)
    if _tooling_installed():
        from tooling.commands import add_commands

        add_commands(app)
    return app


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] and given[0] in TOOLING_COMMANDS and not _tooling_installed():
        print(
            f"lmp-billing {given[0]}: the development tooling (embedded servers, `up`, "
            "the demo) is not installed here; in a checkout: pip install -e ./tooling",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return run(application(), given, "lmp-billing")


def _tooling_installed() -> bool:
    return importlib.util.find_spec("tooling") is not None
