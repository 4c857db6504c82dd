"""The development tooling's commands: ``up``, ``infra`` and ``demo``.

Registered on ``lmp-billing`` when the tooling is installed (``services.cli``); a
production install leaves the package out and the commands say so.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, ParamSpec

import typer

from services import bootstrap
from tooling.demo.command import register as register_demo
from tooling.infra.local import LocalInfra
from tooling.infra.process import InfraError

P = ParamSpec("P")


class InfraAction(StrEnum):
    INSTALL = "install"
    UP = "up"
    DOWN = "down"
    STATUS = "status"


def add_commands(app: typer.Typer) -> None:
    app.command("up", help="embedded Kafka and MongoDB-wire servers plus every processor")(
        _reporting(up)
    )
    app.command("infra", help="the embedded servers alone")(_reporting(infra))
    register_demo(app)


def _reporting(command: Callable[P, int]) -> Callable[P, int]:
    """``command``, with a server that will not start said in one line (exit status 1)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            return command(*args, **kwargs)
        except InfraError as exc:
            print(f"lmp-billing: {exc}", file=sys.stderr)
            return 1

    return run


def up(
    keep_servers: Annotated[
        bool, typer.Option("--keep-servers", help="leave the servers running on exit")
    ] = False,
    instances: Annotated[
        int,
        typer.Option(
            "--instances",
            min=1,
            help="processes of each processor, one consumer group each (default 1)",
            show_default=False,
        ),
    ] = 1,
) -> int:
    """Embedded servers plus every processor as its own process, until Ctrl-C."""
    from tooling.up import up as run_up

    return run_up(instances, keep_servers)


def infra(
    action: Annotated[InfraAction, typer.Argument()],
    brokers: Annotated[
        int | None,
        typer.Option(
            "--brokers",
            help="embedded Kafka nodes: 1, or a local cluster of 3 or more whose topics are "
            "replicated 3 times (default LMP_KAFKA_BROKERS, 1)",
        ),
    ] = None,
) -> int:
    settings = bootstrap.settings()
    if brokers is not None:
        settings = settings.model_copy(update={"kafka_brokers": brokers})
    servers = LocalInfra.from_settings(settings)
    if action is InfraAction.INSTALL:
        servers.install()
    elif action is InfraAction.UP:
        servers.up()
    elif action is InfraAction.DOWN:
        servers.down()
    for name, state, where in servers.status():
        print(f"{name:8} {state:9} {where}")
    return 0
