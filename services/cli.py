"""``lmp-billing``: run the system, one processor, the embedded servers, and ops chores."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from services import bootstrap
from services.settings import Settings

TOOLING_COMMANDS = ("up", "infra", "demo")
"""The development tooling's commands (``tooling.commands``), absent from a production install."""

if TYPE_CHECKING:
    from services.adapters.catalogue import Catalogue
    from services.adapters.kafka_security import KafkaConnection


def _broker() -> tuple[Settings, KafkaConnection, Catalogue]:
    """What an operations command needs: settings, the running broker, the topic catalogue."""
    settings = bootstrap.settings()
    return settings, bootstrap.running_broker(settings), bootstrap.catalogue(settings)


def cmd_topics(args: argparse.Namespace) -> int:
    from services.adapters.catalogue import ensure_topics

    _, broker, catalogue = _broker()
    created = asyncio.run(ensure_topics(catalogue, broker))
    for topic in catalogue.topics.values():
        mark = "created" if topic.name in created else "ok"
        print(f"{topic.name:32} {topic.partitions:>3} partitions  {topic.cleanup_policy:8} {mark}")
    return 0


def cmd_topics_list(args: argparse.Namespace) -> int:
    """The catalogue with live partitions, messages written and each group's lag."""
    from services import ops
    from services.adapters.kafka_admin import topic_status

    settings, broker, catalogue = _broker()
    rows = asyncio.run(topic_status(broker, catalogue, settings.consumer_group_prefix))
    print(ops.status_json(rows) if args.json else ops.status_text(rows))
    return 1 if any(row.missing or row.partitions_differ for row in rows) else 0


def cmd_topics_acls(args: argparse.Namespace) -> int:
    """The ACLs each party needs; with --apply, created on the broker."""
    from services.adapters.kafka_acls import AclError, UnknownParty, apply_acls, plan_acls, render
    from services.processors import registry

    settings = bootstrap.settings()
    catalogue = bootstrap.catalogue(settings)
    readers = {name: spec.topics for name, spec in registry().items()}
    try:
        principals = dict(settings.kafka_acl_principals) | dict(args.principal)
        grants = plan_acls(catalogue, readers, settings.consumer_group_prefix, principals)
    except UnknownParty as exc:
        print(f"lmp-billing: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([grant.__dict__ for grant in grants], indent=2))
    else:
        print(render(grants))
    if not args.apply:
        return 0
    broker = bootstrap.running_broker(settings)
    acls = [acl for grant in grants for acl in grant.acls()]
    try:
        created = asyncio.run(apply_acls(broker, acls))
    except AclError as exc:
        print(f"lmp-billing: {exc}", file=sys.stderr)
        return 1
    print(f"applied {created} ACLs on {broker}", file=sys.stderr)
    return 0


def _party_principal(text: str) -> tuple[str, str]:
    """``PARTY=PRINCIPAL``, e.g. ``partner-portal=User:partner``."""
    party, sep, principal = text.partition("=")
    if not sep or not party or ":" not in principal:
        raise argparse.ArgumentTypeError(f"not PARTY=TYPE:NAME: {text!r}")
    return party, principal


async def _until_interrupted(run: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """``run(stop)`` with Ctrl-C and SIGTERM setting ``stop`` (see ``ops.tail``)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await run(stop)


def cmd_tail(args: argparse.Namespace) -> int:
    from services import ops

    _, broker, catalogue = _broker()
    try:
        request = ops.TailRequest(
            topics=ops.resolve_topics(catalogue, args.topics),
            filter=ops.MessageFilter(args.report, args.partner, tuple(args.type)),
            since=(
                bootstrap.clock() - timedelta(minutes=args.since_minutes)
                if args.since_minutes is not None
                else None
            ),
            last=args.last,
            follow=args.follow,
            as_json=args.json,
        )
        return asyncio.run(
            _until_interrupted(lambda stop: ops.tail(broker, catalogue, request, sys.stdout, stop))
        )
    except ops.OpsError as exc:
        print(f"lmp-billing: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        sys.stderr.close()
        return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from services import ops

    _, broker, catalogue = _broker()
    try:
        if args.action == "list":
            return asyncio.run(
                ops.list_dead_letters(broker, catalogue, args.error_kind, args.json, sys.stdout)
            )
        if args.error_kind is not None and not args.all:
            print("lmp-billing: --error-kind goes with --all", file=sys.stderr)
            return 2
        request = ops.ReplayRequest(args.offset or [], args.error_kind, args.force)
        return asyncio.run(
            ops.replay_dead_letters(broker, catalogue, request, sys.stdout, sys.stderr)
        )
    except ops.OpsError as exc:
        print(f"lmp-billing: {exc}", file=sys.stderr)
        return 1


def cmd_outbox(args: argparse.Namespace) -> int:
    """Outbound events that could never be published: list them, or publish them again."""
    if args.action == "list":
        settings = bootstrap.running_database(bootstrap.settings())
        return asyncio.run(_outbox(settings, None, args))
    settings, broker, _ = _broker()
    return asyncio.run(_outbox(bootstrap.running_database(settings), broker, args))


async def _outbox(
    settings: Settings, broker: KafkaConnection | None, args: argparse.Namespace
) -> int:
    from services import ops

    store = bootstrap.store(settings)
    try:
        if broker is None:
            return await ops.list_quarantined(store, args.json, sys.stdout)
        return await ops.retry_quarantined(store, broker, args.ids, sys.stdout, sys.stderr)
    finally:
        await store.close()


def _dlq_position(text: str) -> tuple[int, int]:
    """``N`` (partition 0, the dead-letter topic has one) or ``P:N``."""
    partition, _, offset = text.rpartition(":")
    try:
        return int(partition or 0), int(offset)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an offset: {text!r} (N or PARTITION:N)") from None


def cmd_process(args: argparse.Namespace) -> int:
    """Run one processor in this process until SIGTERM/SIGINT."""
    from services.adapters.catalogue import ensure_topics
    from services.adapters.kafka_security import kafka_connection
    from services.processors import registry

    settings = bootstrap.settings()
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
    asyncio.run(ensure_topics(bootstrap.catalogue(settings), kafka_connection(settings)))
    bootstrap.run_processor(settings, specs[args.name])
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
    proc = sub.add_parser("process", help="run one processor (its own consumer group)")
    proc.add_argument("name")
    proc.set_defaults(func=cmd_process)
    _add_topics(sub)
    _add_tail(sub)
    _add_dlq(sub)
    _add_outbox(sub)
    schemas = sub.add_parser("schemas", help="export JSON Schemas for integrators")
    schemas.add_argument("action", choices=["export"])
    schemas.add_argument("directory", nargs="?", default="schemas/json")
    schemas.set_defaults(func=cmd_schemas)
    from services.api.commands import add_commands as add_api_commands

    add_api_commands(sub)
    _add_tooling(sub)
    return p


def _add_tooling(sub: Any) -> None:
    """``up``, ``infra`` and ``demo``, when the development tooling is installed."""
    if _tooling_installed():
        from tooling.commands import add_commands

        add_commands(sub)
        return
    for name in TOOLING_COMMANDS:
        sub.add_parser(name, help="development tooling: not part of this install")


def _tooling_installed() -> bool:
    return importlib.util.find_spec("tooling") is not None


def _add_topics(sub: Any) -> None:
    topics = sub.add_parser("topics", help="the topics of topics.yaml: create, or show live state")
    actions = topics.add_subparsers(dest="action", required=True)
    ensure = actions.add_parser("ensure", help="create missing topics, verify partitions")
    ensure.set_defaults(func=cmd_topics)
    listing = actions.add_parser(
        "list",
        help="each topic with live partitions, messages written and consumer-group lag",
        description=(
            "Each topic of topics.yaml as the broker has it: partitions (flagged when missing "
            "or not as declared), messages ever written (sum of end offsets) and, per consumer "
            "group, the committed offsets and the lag. Groups are those the contract names as "
            "consumers (LMP_CONSUMER_GROUP_PREFIX-<consumer>) and any other group with offsets "
            "committed on the topic. A partition with no committed offset lags from its first "
            "retained message. Exit status 1 when a topic is missing or its partitions differ."
        ),
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_topics_list)
    acls = actions.add_parser(
        "acls",
        help="the ACLs each party needs on a cluster with an authorizer; --apply creates them",
        description=(
            "Derived from topics.yaml (who produces and consumes each topic), the processors' "
            "declared inputs and the tooling's commands. Principals are User:<party> unless "
            "LMP_KAFKA_ACL_PRINCIPALS (JSON) or --principal say otherwise. --apply needs a "
            "principal allowed to alter ACLs (a super user)."
        ),
    )
    acls.add_argument("--apply", action="store_true", help="create them on the broker")
    acls.add_argument(
        "--principal",
        action="append",
        default=[],
        type=_party_principal,
        metavar="PARTY=PRINCIPAL",
        help="e.g. partner-portal=User:partner (repeatable)",
    )
    acls.add_argument("--json", action="store_true", help="the grants as JSON")
    acls.set_defaults(func=cmd_topics_acls)


def _add_tail(sub: Any) -> None:
    tail_ = sub.add_parser(
        "tail",
        help="read and decode messages of the topics, with filters",
        description=(
            "Read topics (default: all of topics.yaml) from the beginning up to their end now, "
            "decode every message as a CloudEvent and validate its data against its type's "
            "model, and print one line per message, sorted by the time it was written. "
            "Messages that do not decode are shown with the reason. A dead letter matches a "
            "filter when it or the message it holds does. Example: every message about one "
            "report on every topic: `lmp-billing tail --report P1:2026-10`."
        ),
    )
    tail_.add_argument(
        "topics",
        nargs="*",
        metavar="TOPIC",
        help="contract name (lmp.report-events.v1) or physical name; default: every topic",
    )
    start = tail_.add_mutually_exclusive_group()
    start.add_argument(
        "--since-minutes", type=float, metavar="N", help="only messages written in the last N min"
    )
    start.add_argument(
        "--last", type=int, metavar="N", help="only the last N messages of each partition"
    )
    tail_.add_argument(
        "--report",
        metavar="ID",
        help="about report ID (partner:cycle): its report_id, usage partner and cycle, "
        "the message key or the CloudEvent subject",
    )
    tail_.add_argument(
        "--partner", metavar="ID", help="data partner_id, key or report id 'ID:...' of a partner"
    )
    tail_.add_argument(
        "--type",
        action="append",
        default=[],
        metavar="T",
        help="CloudEvent type, exact or a prefix such as lmp.report. (repeatable)",
    )
    tail_.add_argument(
        "--follow", action="store_true", help="then keep printing new messages until Ctrl-C"
    )
    tail_.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: topic, partition, offset, key, headers, event, error",
    )
    tail_.set_defaults(func=cmd_tail)


def _add_dlq(sub: Any) -> None:
    dlq = sub.add_parser("dlq", help="the dead-letter topic: list, replay")
    actions = dlq.add_subparsers(dest="action", required=True)
    listing = actions.add_parser(
        "list",
        help="dead letters: offset, original topic partition:offset, error kind, error, id",
    )
    listing.add_argument("--error-kind", metavar="K", help="parse, schema, unknown_type, ...")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=cmd_dlq)
    replay = actions.add_parser(
        "replay",
        help="republish dead letters' original messages to their original topic",
        description=(
            "Republish each chosen dead letter's original bytes, with its original key, to its "
            "original topic and partition, for the processor to apply again (after a fix). "
            "Every replayed record carries the header lmp-replayed-from: "
            "<dead-letter topic>:<partition>:<offset>; before replaying, the original "
            "partition is read from the original message on (from an hour before the dead "
            "letter was written) for that header, and a dead letter replayed before is "
            "refused (--offset) or skipped (--all) unless --force. --all also skips the dead "
            "letter of a replay that failed again. A double replay is harmless anyway: "
            "processors recognise a message id they applied, and usage figures are peaks."
        ),
    )
    chosen = replay.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--offset",
        action="append",
        type=_dlq_position,
        metavar="N",
        help="offset on the dead-letter topic, as `dlq list` shows it (repeatable)",
    )
    chosen.add_argument("--all", action="store_true", help="every dead letter not yet replayed")
    replay.add_argument("--error-kind", metavar="K", help="with --all: only this error kind")
    replay.add_argument("--force", action="store_true", help="replay again what was replayed")
    replay.set_defaults(func=cmd_dlq)


def _add_outbox(sub: Any) -> None:
    outbox = sub.add_parser(
        "outbox", help="outbound events that could never be published: list, retry"
    )
    actions = outbox.add_subparsers(dest="action", required=True)
    listing = actions.add_parser(
        "list", help="quarantined events: id, topic, why they could not be published"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=cmd_outbox)
    retry = actions.add_parser(
        "retry",
        help="publish quarantined events again",
        description=(
            "Publish each quarantined event again, its stored bytes with its topic and key "
            "(acks=all), and release it from the quarantine once the broker acknowledged it. "
            "An event that fails again stays quarantined with the new reason (exit status 1). "
            "Publishing an event twice is harmless: the bytes of an event id never change."
        ),
    )
    retry.add_argument("ids", nargs="*", metavar="ID", help="event ids; default: every one")
    retry.set_defaults(func=cmd_outbox)


def main(argv: list[str] | None = None) -> int:
    command = (sys.argv[1:] if argv is None else argv)[:1]
    if command and command[0] in TOOLING_COMMANDS and not _tooling_installed():
        print(
            f"lmp-billing {command[0]}: the development tooling (embedded servers, `up`, "
            "the demo) is not installed here; in a checkout: pip install -e ./tooling",
            file=sys.stderr,
        )
        return 2
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        return int(args.func(args))
    except bootstrap.ServersMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    except Exception as exc:
        if type(exc).__name__ == "InfraError":
            print(f"lmp-billing: {exc}", file=sys.stderr)
            return 1
        if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
            print(f"lmp-billing: invalid settings:\n{settings_problems(exc)}", file=sys.stderr)
            return 2
        raise


def settings_problems(exc: ValidationError) -> str:
    """One line per refused setting, without its value (it may be a password)."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        for message in str(error["msg"]).removeprefix("Value error, ").splitlines():
            lines.append(f"  {where}: {message}" if where else f"  {message}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
