"""``lmp-billing topics``: create the topics of topics.yaml, show their live state, their ACLs."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from typing import Annotated

import typer

from services import bootstrap
from services.cli.shell import JsonOption, broker

app = typer.Typer(no_args_is_help=True)


@app.command("ensure", help="create missing topics, verify partitions")
def ensure(as_json: JsonOption = False) -> int:
    from services.adapters.catalogue import ensure_topics
    from services.ops.render import json_line

    _, brokers, catalogue = broker()
    created = asyncio.run(ensure_topics(catalogue, brokers))
    for topic in catalogue.topics.values():
        if as_json:
            row = {
                "name": topic.name,
                "partitions": topic.partitions,
                "cleanup_policy": topic.cleanup_policy,
                "created": topic.name in created,
            }
            print(json_line(row))
            continue
        mark = "created" if topic.name in created else "ok"
        print(f"{topic.name:32} {topic.partitions:>3} partitions  {topic.cleanup_policy:8} {mark}")
    return 0


@app.command(
    "list",
    short_help="each topic with live partitions, messages written and consumer-group lag",
    help=(
        "Each topic of topics.yaml as the broker has it: partitions (flagged when missing "
        "or not as declared), messages ever written (sum of end offsets) and, per consumer "
        "group, the committed offsets and the lag. Groups are those the contract names as "
        "consumers (LMP_CONSUMER_GROUP_PREFIX-<consumer>) and any other group with offsets "
        "committed on the topic. A partition with no committed offset lags from its first "
        "retained message. Exit status 1 when a topic is missing or its partitions differ."
    ),
)
def listing(as_json: JsonOption = False) -> int:
    from services import ops
    from services.adapters.kafka_admin import topic_status

    settings, brokers, catalogue = broker()
    rows = asyncio.run(topic_status(brokers, catalogue, settings.consumer_group_prefix))
    text = ops.status_json(rows) if as_json else ops.status_text(rows)
    if text:
        print(text)
    return 1 if any(row.missing or row.partitions_differ for row in rows) else 0


@app.command(
    "acls",
    short_help="the ACLs each party needs on a cluster with an authorizer; --apply creates them",
    help=(
        "Derived from topics.yaml (who produces and consumes each topic), the processors' "
        "declared inputs and the tooling's commands. Principals are User:<party> unless "
        "LMP_KAFKA_ACL_PRINCIPALS (JSON) or --principal say otherwise. --apply needs a "
        "principal allowed to alter ACLs (a super user)."
    ),
)
def acls(
    apply: Annotated[bool, typer.Option("--apply", help="create them on the broker")] = False,
    principal: Annotated[
        list[str] | None,
        typer.Option(
            "--principal",
            metavar="PARTY=PRINCIPAL",
            help="e.g. partner-portal=User:partner (repeatable)",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> int:
    """The ACLs each party needs; with --apply, created on the broker."""
    from services.adapters.kafka_acls import AclError, UnknownParty, apply_acls, plan_acls, render
    from services.processors import registry

    given = dict(_party_principal(text) for text in principal or [])
    settings = bootstrap.settings()
    catalogue = bootstrap.catalogue(settings)
    readers = {name: spec.topics for name, spec in registry().items()}
    try:
        principals = dict(settings.kafka_acl_principals) | given
        grants = plan_acls(catalogue, readers, settings.consumer_group_prefix, principals)
    except UnknownParty as exc:
        print(f"lmp-billing: {exc}", file=sys.stderr)
        return 2
    if as_json:
        from services.ops.render import json_line

        for grant in grants:
            print(json_line(dataclasses.asdict(grant)))
    else:
        print(render(grants))
    if not apply:
        return 0
    brokers = bootstrap.running_broker(settings)
    wanted = [acl for grant in grants for acl in grant.acls()]
    try:
        created = asyncio.run(apply_acls(brokers, wanted))
    except AclError as exc:
        print(f"lmp-billing: {exc}", file=sys.stderr)
        return 1
    print(f"applied {created} ACLs on {brokers}", file=sys.stderr)
    return 0


def _party_principal(text: str) -> tuple[str, str]:
    """``PARTY=PRINCIPAL``, e.g. ``partner-portal=User:partner``."""
    party, sep, principal = text.partition("=")
    if not sep or not party or ":" not in principal:
        raise typer.BadParameter(f"not PARTY=TYPE:NAME: {text!r}", param_hint="--principal")
    return party, principal
