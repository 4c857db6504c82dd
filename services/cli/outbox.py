"""``lmp-billing outbox``: outbound events that could never be published, listed and retried."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from services import bootstrap
from services.cli.shell import JsonOption, broker
from services.settings import Settings

if TYPE_CHECKING:
    from services.adapters.kafka_security import KafkaConnection

app = typer.Typer(no_args_is_help=True)

RETRY_HELP = (
    "Publish each quarantined event again, its stored bytes with its topic and key "
    "(acks=all), and release it from the quarantine once the broker acknowledged it. "
    "An event that fails again stays quarantined with the new reason (exit status 1). "
    "Publishing an event twice is harmless: the bytes of an event id never change."
)


@app.command("list", help="quarantined events: id, topic, why they could not be published")
def listing(
    as_json: JsonOption = False,
) -> int:
    settings = bootstrap.running_database(bootstrap.settings())
    return asyncio.run(_outbox(settings, None, as_json, []))


@app.command("retry", short_help="publish quarantined events again", help=RETRY_HELP)
def retry(
    ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="ID", help="event ids; default: every one", show_default=False),
    ] = None,
) -> int:
    settings, brokers, _ = broker()
    return asyncio.run(_outbox(bootstrap.running_database(settings), brokers, False, ids or []))


async def _outbox(
    settings: Settings, brokers: KafkaConnection | None, as_json: bool, ids: list[str]
) -> int:
    from services import ops

    store = bootstrap.store(settings)
    try:
        if brokers is None:
            return await ops.list_quarantined(store, as_json, sys.stdout)
        return await ops.retry_quarantined(store, brokers, ids, sys.stdout, sys.stderr)
    finally:
        await store.close()
