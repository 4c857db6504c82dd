"""``lmp-billing``: run the system, one processor, the embedded servers, and ops chores."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from services.settings import Settings


def _settings() -> Settings:
    return Settings()


def cmd_infra(args: argparse.Namespace) -> int:
    from services.infra.local import LocalInfra

    infra = LocalInfra.from_settings(_settings())
    if args.action == "install":
        infra.install()
    elif args.action == "up":
        infra.up()
    elif args.action == "down":
        infra.down()
    for name, state, where in infra.status():
        print(f"{name:8} {state:9} {where}")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from services.adapters.catalogue import Catalogue, ensure_topics

    settings = _settings()
    if not settings.kafka_bootstrap_servers:
        print(
            "KAFKA_BOOTSTRAP_SERVERS is not set (run `lmp-billing up` for a local broker)",
            file=sys.stderr,
        )
        return 2
    catalogue = Catalogue.load(*settings.catalogue_args())
    created = asyncio.run(ensure_topics(catalogue, settings.kafka_bootstrap_servers))
    for topic in catalogue.topics.values():
        mark = "created" if topic.name in created else "ok"
        print(f"{topic.name:32} {topic.partitions:>3} partitions  {topic.cleanup_policy:8} {mark}")
    return 0


def cmd_process(args: argparse.Namespace) -> int:
    """Run one processor in this process until SIGTERM/SIGINT."""
    import faust

    from services.adapters.catalogue import Catalogue, ensure_topics
    from services.app import build_app
    from services.processors import registry

    settings = _settings()
    specs = registry()
    if args.name not in specs:
        print(
            f"unknown processor {args.name!r}; known: {', '.join(sorted(specs))}", file=sys.stderr
        )
        return 2
    if not settings.kafka_bootstrap_servers or not settings.mongodb_uri:
        print(
            "KAFKA_BOOTSTRAP_SERVERS and MONGODB_URI must be set (or use `lmp-billing up`)",
            file=sys.stderr,
        )
        return 2
    catalogue = Catalogue.load(*settings.catalogue_args())
    asyncio.run(ensure_topics(catalogue, settings.kafka_bootstrap_servers))
    app = build_app(settings, specs[args.name])
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    worker.execute_from_commandline()
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Embedded servers plus every processor as its own process, until Ctrl-C."""
    from services.adapters.catalogue import Catalogue, ensure_topics
    from services.infra.local import LocalInfra
    from services.infra.process import ManagedProcess, tail
    from services.processors import registry

    settings = _settings()
    infra = LocalInfra.from_settings(settings)
    print("starting servers (the first start fetches Kafka from Maven Central)...", flush=True)
    infra.up()
    catalogue = Catalogue.load(*settings.catalogue_args())
    asyncio.run(ensure_topics(catalogue, infra.bootstrap_servers))
    logs = settings.home / "logs"
    processors = [
        ManagedProcess(
            name=name,
            argv=[sys.executable, "-m", "services.cli", "process", name],
            log_path=logs / f"{name}.log",
            pid_path=settings.home / "run" / f"{name}.pid",
            env=infra.environment(),
        )
        for name in registry()
    ]
    for proc in processors:
        proc.stop()
        proc.start()
    for name, state, where in infra.status():
        print(f"{name:22} {state:9} {where}")
    for proc in processors:
        print(f"processor {proc.name:12} pid {proc.pid():<8} log {proc.log_path}")
    print("publish CloudEvents to the topics in topics.yaml; Ctrl-C stops everything.", flush=True)

    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            for proc in processors:
                if not proc.running() and not stopping:
                    print(
                        f"processor {proc.name} exited; restarting. Last lines:\n"
                        f"{tail(proc.log_path, 15)}",
                        flush=True,
                    )
                    proc.start()
            time.sleep(1)
    finally:
        print("stopping...", flush=True)
        for proc in processors:
            proc.stop()
        if not args.keep_servers:
            infra.down()
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from schemas.envelope import CloudEvent
    from schemas.registry import MESSAGE_TYPES
    from schemas.report import Report

    out = Path(args.directory)
    out.mkdir(parents=True, exist_ok=True)
    for message_type, model in sorted(MESSAGE_TYPES.items()):
        schema = CloudEvent[model].model_json_schema()  # type: ignore[valid-type]
        schema["title"] = message_type
        (out / f"{message_type}.json").write_text(json.dumps(schema, indent=2) + "\n")
    (out / "report.json").write_text(json.dumps(Report.model_json_schema(), indent=2) + "\n")
    print(f"wrote {len(MESSAGE_TYPES) + 1} JSON Schemas to {out}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lmp-billing", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="embedded Kafka and MongoDB-wire servers plus every processor")
    up.add_argument("--keep-servers", action="store_true", help="leave the servers running on exit")
    up.set_defaults(func=cmd_up)
    infra = sub.add_parser("infra", help="the embedded servers alone")
    infra.add_argument("action", choices=["install", "up", "down", "status"])
    infra.set_defaults(func=cmd_infra)
    proc = sub.add_parser("process", help="run one processor (its own consumer group)")
    proc.add_argument("name")
    proc.set_defaults(func=cmd_process)
    topics = sub.add_parser("topics", help="create or verify the topics of topics.yaml")
    topics.add_argument("action", choices=["ensure"])
    topics.set_defaults(func=cmd_topics)
    schemas = sub.add_parser("schemas", help="export JSON Schemas for integrators")
    schemas.add_argument("action", choices=["export"])
    schemas.add_argument("directory", nargs="?", default="schemas/json")
    schemas.set_defaults(func=cmd_schemas)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        return int(args.func(args))
    except Exception as exc:
        from services.infra.process import InfraError

        if isinstance(exc, InfraError):
            print(f"lmp-billing: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
