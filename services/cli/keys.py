"""``lmp-billing keys``: API keys created (shown once, stored hashed), listed, revoked."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from schemas.api import ApiKey, Role
from services import bootstrap
from services.adapters.store import StoreProtocol
from services.cli.shell import JsonOption

app = typer.Typer(no_args_is_help=True)

T = TypeVar("T")


@app.command(
    "create",
    short_help="create a key, shown once",
    help="Create a key and print it once on stdout (only its hash is stored); what it is "
    "for goes to stderr. A partner or distributor key needs --account.",
)
def create(
    role: Annotated[
        Role,
        typer.Option(
            "--role",
            metavar="ROLE",
            help="partner, distributor or operations (default distributor)",
            show_default=False,
        ),
    ] = Role.DISTRIBUTOR,
    account: Annotated[
        str | None,
        typer.Option("--account", metavar="ID", help="the partner or distributor id it acts for"),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", metavar="TEXT", help="who or what the key is for")
    ] = None,
) -> int:
    from services.api.auth import new_key

    try:
        plaintext, stored = new_key(role, account, name or "", bootstrap.clock())
    except ValueError as exc:
        print(f"lmp-billing keys create: {exc}", file=sys.stderr)
        return 2

    async def save(store: StoreProtocol) -> int:
        await store.save_api_key(stored)
        return 0

    _with_store(save)
    print(plaintext)
    print(
        f"key {stored.key_id}: role {stored.role.value}"
        f"{' for ' + stored.account_id if stored.account_id else ''}. "
        "Shown once; only its hash is stored.",
        file=sys.stderr,
    )
    return 0


@app.command("list", help="every key: id, role, account, active or revoked, name")
def listing(as_json: JsonOption = False) -> int:
    from services.ops.render import json_line

    async def keys(store: StoreProtocol) -> list[ApiKey]:
        return await store.list_api_keys()

    for key in _with_store(keys):
        if as_json:
            print(json_line(key_row(key)))
            continue
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        print(f"{key.key_id}  {key.role.value:11} {key.account_id or '-':14} {state:18} {key.name}")
    return 0


@app.command("revoke", help="revoke a key: the read API refuses it from then on")
def revoke(
    key_id: Annotated[
        str, typer.Argument(metavar="KEY_ID", help="as `keys list` shows it", show_default=False)
    ],
) -> int:
    async def revoked(store: StoreProtocol) -> bool:
        return await store.revoke_api_key(key_id, bootstrap.clock())

    if not _with_store(revoked):
        print(f"lmp-billing keys revoke: no active key {key_id!r}", file=sys.stderr)
        return 1
    print(f"revoked {key_id}")
    return 0


def key_row(key: ApiKey) -> dict[str, Any]:
    """One key as ``keys list --json`` prints it (never its hash)."""
    from services.ops.render import iso_time

    return {
        "key_id": key.key_id,
        "role": key.role.value,
        "account_id": key.account_id,
        "name": key.name,
        "created_at": iso_time(key.created_at),
        "revoked_at": iso_time(key.revoked_at) if key.revoked_at else None,
    }


def _with_store(work: Callable[[StoreProtocol], Awaitable[T]]) -> T:
    async def run() -> T:
        store = bootstrap.store(bootstrap.servers(bootstrap.settings()))
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())
