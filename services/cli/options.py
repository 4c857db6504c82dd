"""The global options of ``lmp-billing`` (before the command): ``--version``, the servers
(``-b/--bootstrap-server``, ``--mongodb-uri``), and the logging every command sets up."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from services import bootstrap, logs

DISTRIBUTION = "lmp-billing"

VALUE_OPTIONS = frozenset({"-b", "--bootstrap-server", "--mongodb-uri"})
"""Global options followed by a value (``command_name`` steps over it)."""


def installed_version() -> str:
    """The installed distribution's version (its metadata), or a word saying there is none."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown (not installed: no distribution metadata)"


def _print_version(given: bool) -> None:
    if given:
        print(f"{DISTRIBUTION} {installed_version()}")
        raise typer.Exit(0)


def global_options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            expose_value=False,
            callback=_print_version,
            help="print the version and exit",
        ),
    ] = False,
    bootstrap_server: Annotated[
        str | None,
        typer.Option(
            "-b",
            "--bootstrap-server",
            metavar="HOST:PORT,...",
            help="the Kafka brokers; wins over KAFKA_BOOTSTRAP_SERVERS (unset or empty: "
            "the embedded broker of the development tooling)",
            show_default=False,
        ),
    ] = None,
    mongodb_uri: Annotated[
        str | None,
        typer.Option(
            "--mongodb-uri",
            metavar="URI",
            help="the database, mongodb://...; wins over MONGODB_URI (unset or empty: the "
            "embedded database server of the development tooling)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Before every command: the log level of LMP_LOG_LEVEL, the servers given here."""
    try:
        level = logs.level_from_environment()
    except ValueError as exc:
        print(f"lmp-billing: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    logs.configure(level)
    bootstrap.use_servers(bootstrap_server, mongodb_uri)


def command_name(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names, past the global options (``-b HOST:PORT up``: up)."""
    args = iter(argv)
    for arg in args:
        if arg in VALUE_OPTIONS:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None
