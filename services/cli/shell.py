"""What the commands share: the servers an operations command needs, Ctrl-C as a stop
event, and a command run as a function that returns its exit status."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from typer.core import TyperArgument

from services import bootstrap
from services.adapters.catalogue import CatalogueError
from services.settings import Settings

if TYPE_CHECKING:
    from typer._click.core import Command

    from services.adapters.catalogue import Catalogue
    from services.adapters.kafka_security import KafkaConnection


JsonOption = Annotated[
    bool,
    typer.Option("--json", help="one JSON object per line (JSON Lines)"),
]
"""``--json`` of every listing: the same words and the same shape everywhere."""


def broker() -> tuple[Settings, KafkaConnection, Catalogue]:
    """What an operations command needs: settings, the running broker, the topic catalogue."""
    settings = bootstrap.settings()
    return settings, bootstrap.running_broker(settings), bootstrap.catalogue(settings)


async def until_interrupted(run: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """``run(stop)`` with Ctrl-C and SIGTERM setting ``stop`` (see ``ops.tail``)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await run(stop)


def run(app: typer.Typer, argv: list[str] | None, prog_name: str) -> int:
    """Parse ``argv`` and run ``app``'s command; its return value is the exit status. A
    usage error is 2, as are settings that do not validate and a server that is not there."""
    command = readable(typer.main.get_command(app))
    try:
        status = command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 130
    except typer.TyperException as exc:
        # A usage error (click's, as typer carries it): said as click says it.
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        return int(getattr(exc, "exit_code", 2))
    except bootstrap.ServersMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    except CatalogueError as exc:
        print(f"lmp-billing: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        print(f"lmp-billing: invalid settings:\n{settings_problems(exc)}", file=sys.stderr)
        return 2
    return int(status or 0)


class _NamedArgument(TyperArgument):
    """An argument shown by its metavar alone (``TOPIC``), as an option is."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None if self.metavar else super().display_type_rich(ctx)


def readable(command: Command) -> Command:
    """``command`` and its subcommands with arguments shown by their metavar (``FILE``,
    ``KEY_ID``): typer writes an argument's type beside it (``TOPIC <list[str]>``)."""
    for param in command.params:
        if isinstance(param, TyperArgument) and param.metavar:
            param.__class__ = _NamedArgument
    for sub in getattr(command, "commands", {}).values():
        readable(sub)
    return command


def settings_problems(exc: ValidationError) -> str:
    """One line per refused setting, without its value (it may be a password)."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        for message in str(error["msg"]).removeprefix("Value error, ").splitlines():
            lines.append(f"  {where}: {message}" if where else f"  {message}")
    return "\n".join(lines)
