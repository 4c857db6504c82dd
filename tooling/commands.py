"""The development tooling's commands: ``up``, ``infra`` and ``demo``.

Registered on ``lmp-billing`` when the tooling is installed (an ``lmp_billing.commands``
entry point, tooling/pyproject.toml, that ``services.plugins`` finds); a
production install leaves the package out and the commands say so.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, ParamSpec

import typer

from services import bootstrap
from services.cli.shell import JsonOption
from tooling.demo.command import register as register_demo
from tooling.infra.local import LocalInfra
from tooling.infra.process import InfraError
from tooling.settings import ToolingSettings

P = ParamSpec("P")


INFRA_HELP = (
    "The embedded servers alone (Kafka, one node or a local cluster, and the MongoDB-wire "
    "database server), for the processors started by hand, the tests and the demo. A "
    "server configured from outside (KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI, or the global "
    "options) is left alone and shown as external."
)

BrokersOption = Annotated[
    int | None,
    typer.Option(
        "--brokers",
        metavar="N",
        help="embedded Kafka nodes: 1, or a local cluster of 3 or more whose topics are "
        "replicated 3 times (default LMP_KAFKA_BROKERS, 1)",
        show_default=False,
    ),
]

infra_app = typer.Typer(no_args_is_help=True)


def add_commands(app: typer.Typer) -> None:
    app.command("up", help="embedded Kafka and MongoDB-wire servers plus every processor")(
        _reporting(up)
    )
    app.add_typer(
        infra_app,
        name="infra",
        short_help="the embedded servers alone: install, up, down, status",
        help=INFRA_HELP,
    )
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
            metavar="N",
            min=1,
            help="processes of each processor, one consumer group each (default 1)",
            show_default=False,
        ),
    ] = 1,
) -> int:
    """Embedded servers plus every processor as its own process, until Ctrl-C."""
    from tooling.up import up as run_up

    return run_up(instances, keep_servers)


def _servers(brokers: int | None) -> LocalInfra:
    tooling = ToolingSettings()
    if brokers is not None:
        tooling = tooling.model_copy(update={"kafka_brokers": brokers})
    return LocalInfra.from_settings(bootstrap.settings(), tooling=tooling)


def _print_status(servers: LocalInfra, as_json: bool = False) -> int:
    from services.ops.render import json_line

    for name, state, where in servers.status():
        if as_json:
            print(json_line({"server": name, "state": state, "address": where}))
        else:
            print(f"{name:8} {state:9} {where}")
    return 0


@infra_app.command("install", help="fetch or build what the servers need, without starting them")
@_reporting
def install(brokers: BrokersOption = None) -> int:
    servers = _servers(brokers)
    servers.install()
    return _print_status(servers)


@infra_app.command("up", help="start the servers in the background; wait until they answer")
@_reporting
def infra_up(brokers: BrokersOption = None) -> int:
    servers = _servers(brokers)
    servers.up()
    return _print_status(servers)


@infra_app.command("down", help="stop the servers (one node or a cluster, whichever runs)")
@_reporting
def down() -> int:
    servers = _servers(None)
    servers.down()
    return _print_status(servers)


@infra_app.command("status", help="each server: running, stopped or external, and its address")
@_reporting
def status(brokers: BrokersOption = None, as_json: JsonOption = False) -> int:
    return _print_status(_servers(brokers), as_json)
