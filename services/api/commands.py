"""Console commands of the read API: serve it, and create, list or revoke API keys."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

from schemas.api import Role
from services import bootstrap
from services.settings import Settings


def with_servers() -> Settings:
    """Settings, pointed at the embedded servers when no external ones are configured."""
    return bootstrap.servers(bootstrap.settings())


def cmd_api(args: argparse.Namespace) -> int:
    """Serve on uvloop: its event loop and transports cost the API a fraction of asyncio's."""
    import uvloop

    from services.api.run import serve

    settings = with_servers()
    if args.port is not None:
        settings = settings.model_copy(update={"api_port": args.port})
    if args.host is not None:
        settings = settings.model_copy(update={"api_host": args.host})
    if args.lifeline_fd is not None:
        uvloop.run(serve(settings, socket.socket(fileno=args.lifeline_fd)))
        return 0
    workers = args.workers if args.workers is not None else settings.api_workers
    if workers > 1:
        from services.api.workers import run_pool

        return run_pool(settings, workers)
    uvloop.run(serve(settings))
    return 0


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"a number of processes, at least 1, not {text!r}")
    return count


def cmd_keys(args: argparse.Namespace) -> int:
    return asyncio.run(_keys(args))


async def _keys(args: argparse.Namespace) -> int:
    from services.api.auth import new_key

    store = bootstrap.store(with_servers())
    try:
        now = bootstrap.clock()
        if args.action == "create":
            try:
                plaintext, stored = new_key(Role(args.role), args.account, args.name or "", now)
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
        elif args.action == "revoke":
            if not args.key_id:
                print("lmp-billing keys revoke: give the key id", file=sys.stderr)
                return 2
            if not await store.revoke_api_key(args.key_id, now):
                print(f"no active key {args.key_id!r}", file=sys.stderr)
                return 1
            print(f"revoked {args.key_id}")
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


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    api = sub.add_parser("api", help="serve the read API (OpenAPI at /openapi.json)")
    api.add_argument("--host", help="listen address (default LMP_API_HOST or 127.0.0.1)")
    api.add_argument("--port", type=int, help="listen port (default LMP_API_PORT or 8080)")
    api.add_argument(
        "--workers",
        type=_worker_count,
        help="processes serving the port (default LMP_API_WORKERS or 1); more than one "
        "share it with SO_REUSEPORT under a parent that starts and stops them",
    )
    api.add_argument("--lifeline-fd", type=int, help=argparse.SUPPRESS)
    api.set_defaults(func=cmd_api)
    keys = sub.add_parser("keys", help="API keys: create (shown once, stored hashed), list, revoke")
    keys.add_argument("action", choices=["create", "list", "revoke"])
    keys.add_argument("key_id", nargs="?", help="the key to revoke")
    keys.add_argument("--role", choices=[r.value for r in Role], default=Role.DISTRIBUTOR.value)
    keys.add_argument("--account", help="the partner or distributor id the key acts for")
    keys.add_argument("--name", help="who or what the key is for")
    keys.set_defaults(func=cmd_keys)
