"""``lmp-billing keys``: API keys created (shown once, stored hashed), listed, revoked."""

from __future__ import annotations

import asyncio
import sys
from enum import StrEnum
from typing import Annotated

import typer

from schemas.api import Role
from services import bootstrap


class KeyAction(StrEnum):
    CREATE = "create"
    LIST = "list"
    REVOKE = "revoke"


def register(app: typer.Typer) -> None:
    app.command("keys", help="API keys: create (shown once, stored hashed), list, revoke")(keys)


def keys(
    action: Annotated[KeyAction, typer.Argument()],
    key_id: Annotated[
        str | None, typer.Argument(help="the key to revoke", show_default=False)
    ] = None,
    role: Annotated[Role, typer.Option("--role")] = Role.DISTRIBUTOR,
    account: Annotated[
        str | None,
        typer.Option("--account", help="the partner or distributor id the key acts for"),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="who or what the key is for")] = None,
) -> int:
    return asyncio.run(_keys(action, key_id, role, account, name))


async def _keys(
    action: KeyAction, key_id: str | None, role: Role, account: str | None, name: str | None
) -> int:
    from services.api.auth import new_key

    store = bootstrap.store(bootstrap.servers(bootstrap.settings()))
    try:
        now = bootstrap.clock()
        if action is KeyAction.CREATE:
            try:
                plaintext, stored = new_key(role, account, name or "", now)
            except ValueError as exc:
                print(f"lmp-billing keys: {exc}", file=sys.stderr)
                return 2
            await store.save_api_key(stored)
            print(plaintext)
            print(
                f"key {stored.key_id}: role {stored.role.value}"
                f"{' for ' + stored.account_id if stored.account_id else ''}. "
                "Shown once; only its hash is stored.",
                file=sys.stderr,
            )
        elif action is KeyAction.REVOKE:
            if not key_id:
                print("lmp-billing keys revoke: give the key id", file=sys.stderr)
                return 2
            if not await store.revoke_api_key(key_id, now):
                print(f"no active key {key_id!r}", file=sys.stderr)
                return 1
            print(f"revoked {key_id}")
        else:
            for key in await store.list_api_keys():
                state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
                print(
                    f"{key.key_id}  {key.role.value:11} {key.account_id or '-':14} "
                    f"{state:18} {key.name}"
                )
        return 0
    finally:
        await store.close()
