"""``lmp-billing tail``: read and decode messages of the topics, with filters."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from typing import Annotated

import typer

from services import bootstrap
from services.cli.shell import broker, until_interrupted

HELP = (
    "Read topics (default: all of topics.yaml) from the beginning up to their end now, "
    "decode every message as a CloudEvent and validate its data against its type's "
    "model, and print one line per message, sorted by the time it was written. "
    "Messages that do not decode are shown with the reason. A dead letter matches a "
    "filter when it or the message it holds does. Example: every message about one "
    "report on every topic: `lmp-billing tail --report P1:2026-10`."
)


def register(app: typer.Typer) -> None:
    app.command(
        "tail", short_help="read and decode messages of the topics, with filters", help=HELP
    )(tail)


def tail(
    topics: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TOPIC",
            help="contract name (lmp.report-events.v1) or physical name; default: every topic",
            show_default=False,
        ),
    ] = None,
    since_minutes: Annotated[
        float | None,
        typer.Option(
            "--since-minutes", metavar="N", help="only messages written in the last N min"
        ),
    ] = None,
    last: Annotated[
        int | None,
        typer.Option("--last", metavar="N", help="only the last N messages of each partition"),
    ] = None,
    report: Annotated[
        str | None,
        typer.Option(
            "--report",
            metavar="ID",
            help="about report ID (partner:cycle): its report_id, usage partner and cycle, "
            "the message key or the CloudEvent subject",
        ),
    ] = None,
    partner: Annotated[
        str | None,
        typer.Option(
            "--partner",
            metavar="ID",
            help="data partner_id, key or report id 'ID:...' of a partner",
        ),
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            metavar="T",
            help="CloudEvent type, exact or a prefix such as lmp.report. (repeatable)",
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="then keep printing new messages until Ctrl-C")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="one JSON object per line (JSON Lines): time, topic, partition, offset, key, "
            "headers, report_id, event, error, ...",
        ),
    ] = False,
) -> int:
    from services import ops

    if since_minutes is not None and last is not None:
        raise typer.BadParameter("not allowed with --since-minutes", param_hint="--last")
    _, brokers, catalogue = broker()
    try:
        request = ops.TailRequest(
            topics=ops.resolve_topics(catalogue, topics or []),
            filter=ops.MessageFilter(report, partner, tuple(types or ())),
            since=(
                bootstrap.clock() - timedelta(minutes=since_minutes)
                if since_minutes is not None
                else None
            ),
            last=last,
            follow=follow,
            as_json=as_json,
        )
        return asyncio.run(
            until_interrupted(lambda stop: ops.tail(brokers, catalogue, request, sys.stdout, stop))
        )
    except ops.OpsError as exc:
        print(f"lmp-billing: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        sys.stderr.close()
        return 0
