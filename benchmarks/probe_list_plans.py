"""The read API's list queries as the database plans and runs them.

    python -m benchmarks.probe_list_plans                 # embedded secantusd-rs, 20,000 reports
    python -m benchmarks.probe_list_plans --uri mongodb://host:27017/   # any server

Seeds ``--reports`` reports (the load benchmark's data), creates the store's indexes and,
for every query the read API sends for a list, a CSV export, the partner's view and one
report (the filter, sort, projection, skip and limit the store builds), prints:

- the plan the server explains (``explain`` with executionStats): its stages, the index
  scanned, and the keys and documents it says it examined for the rows returned;
- what the query costs the server, measured: its mean time, and (for the embedded server,
  whose process this script started) the server's CPU per query; then the same for the
  count the list's total needs.

On the embedded server the two differ: its ``explain`` plans as mongod would, while its
executor reads every matching document and sorts them before it skips and limits
(docs/api.md, "Indexes and query plans").
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from benchmarks.common import cpu_seconds
from schemas.api import ReportQuery, SortKey
from services.adapters.store import ReportScope, position, report_filter
from services.adapters.store.archive import ARCHIVE_INDEXES
from services.adapters.store.queries import (
    LIST_PROJECTION,
    READ_PROJECTION,
    SORTS,
    USAGE_ROW_PROJECTION,
    after_segments,
    partner_reports_filter,
)
from services.adapters.store.reports import REPORT_INDEXES
from tests.report_data import bulk

CYCLES = [f"2026-{m:02d}" for m in range(1, 13)]
DISTRIBUTOR = "D007"
PAGE = 50


@contextmanager
def server(uri: str | None, home: Path) -> Iterator[tuple[str, int | None]]:
    """The server's URI and, when this script starts it, its process id."""
    if uri:
        yield uri, None
        return
    from services.settings import Settings
    from tooling.infra.mongo_server import MongoServer
    from tooling.infra.process import free_port
    from tooling.settings import cache_dir

    mongo = MongoServer(cache_dir(Settings().home), home, free_port())
    mongo.start()
    try:
        mongo.wait_ready()
        yield mongo.uri, mongo.process.pid()
    finally:
        mongo.stop()


class Shape:
    """One query as the store sends it."""

    def __init__(
        self,
        label: str,
        criteria: dict[str, Any],
        sort: list[tuple[str, int]] | None,
        projection: dict[str, int],
        skip: int = 0,
        limit: int = 0,
        counted: bool = True,
    ) -> None:
        self.label, self.criteria, self.sort = label, criteria, sort
        self.projection, self.skip, self.limit, self.counted = projection, skip, limit, counted

    def find(self, reports: Any) -> Any:
        cursor = reports.find(self.criteria, self.projection)
        if self.sort:
            cursor = cursor.sort(self.sort)
        return cursor.skip(self.skip).limit(self.limit)


def shapes(reports: Any) -> list[Shape]:
    """Every query of the read API's workload, built by the store's own functions."""
    distributor, everyone = ReportScope(distributor_id=DISTRIBUTOR), ReportScope()

    def listed(query: ReportQuery, scope: ReportScope, ids: list[str] | None = None) -> Any:
        return report_filter(query, scope, ids)

    default = SORTS[SortKey.CYCLE_DESC]
    by_update = SORTS[SortKey.UPDATED_AT_DESC]
    review = listed(ReportQuery(status=["under_review"]), everyone)
    deep = list(reports.find(review, LIST_PROJECTION).sort(by_update).skip(19 * PAGE - 1).limit(1))
    after = position(deep[0], SortKey.UPDATED_AT_DESC) if deep else None
    found = [
        Shape(
            "distributor: one cycle",
            listed(ReportQuery(cycle="2026-10"), distributor),
            default,
            LIST_PROJECTION,
            limit=PAGE,
        ),
        Shape(
            "distributor: one cycle and a status",
            listed(
                ReportQuery(cycle="2026-10", status=["automatic_submission_penalties"]), distributor
            ),
            default,
            LIST_PROJECTION,
            limit=PAGE,
        ),
        Shape(
            "distributor: a quarter",
            listed(ReportQuery(cycle_from="2026-07", cycle_to="2026-09"), distributor),
            default,
            LIST_PROJECTION,
            limit=PAGE,
        ),
        Shape(
            "distributor: a cycle by deadline, page 2",
            listed(ReportQuery(cycle="2026-06"), distributor),
            SORTS[SortKey.DEADLINE],
            LIST_PROJECTION,
            skip=10,
            limit=10,
        ),
        Shape(
            "distributor: a status, every cycle",
            listed(ReportQuery(status=["rejected"]), distributor),
            default,
            LIST_PROJECTION,
            limit=PAGE,
        ),
        Shape(
            "distributor: partner search (3 ids)",
            listed(ReportQuery(), distributor, ["P000007", "P000057", "P000107"]),
            default,
            LIST_PROJECTION,
            limit=PAGE,
        ),
        Shape(
            "operations: a status by update, page 1", review, by_update, LIST_PROJECTION, limit=PAGE
        ),
        Shape(
            "operations: a status by update, page 20",
            review,
            by_update,
            LIST_PROJECTION,
            skip=19 * PAGE,
            limit=PAGE,
        ),
        Shape(
            "operations: a cycle and a status, page 2",
            listed(ReportQuery(cycle="2026-06", status=["under_review"]), everyone),
            default,
            LIST_PROJECTION,
            skip=PAGE,
            limit=PAGE,
        ),
        Shape("operations: every report, page 1", {}, default, LIST_PROJECTION, limit=PAGE),
        Shape(
            "CSV: a distributor's cycle",
            listed(ReportQuery(cycle="2026-10"), distributor),
            default,
            LIST_PROJECTION,
            counted=False,
        ),
        Shape(
            "partner's view: 12 months",
            partner_reports_filter("P000007", "2026-01", "2026-12", everyone) or {},
            [("cycle", -1)],
            USAGE_ROW_PROJECTION,
            counted=False,
        ),
        Shape(
            "one report", {"_id": "P000007:2026-10"}, None, READ_PROJECTION, limit=1, counted=False
        ),
    ]
    if after is not None:
        for n, segment in enumerate(after_segments(review, SortKey.UPDATED_AT_DESC, after)):
            found.insert(
                8 + n,
                Shape(
                    f"  ... page 20 by cursor, segment {n + 1}",
                    segment,
                    by_update,
                    LIST_PROJECTION,
                    limit=PAGE,
                    counted=False,
                ),
            )
    return found


def stages(plan: dict[str, Any]) -> str:
    """``LIMIT > FETCH > IXSCAN(name)``: the winning plan's stages, outermost first."""
    out = []
    while plan:
        stage = plan.get("stage", "?")
        if stage == "IXSCAN":
            stage += f"({plan.get('indexName')})"
        if "inputStages" in plan:
            stage += "[" + ", ".join(stages(p) for p in plan["inputStages"]) + "]"
            out.append(stage)
            break
        out.append(stage)
        plan = plan.get("inputStage", {})
    return " > ".join(s for s in out if s not in ("PROJECTION_SIMPLE", "PROJECTION_DEFAULT"))


def read_all(shape: Shape, reports: Any) -> list[dict[str, Any]]:
    return list(shape.find(reports))


def timed(run: Callable[[], Any], pid: int | None, repeat: int) -> tuple[float, float]:
    """Mean wall time and server CPU (ms) of ``run``."""
    run()
    cpu, started = server_cpu(pid), time.perf_counter()
    for _ in range(repeat):
        run()
    wall = (time.perf_counter() - started) * 1000 / repeat
    return wall, (server_cpu(pid) - cpu) * 1000 / repeat


def server_cpu(pid: int | None) -> float:
    return cpu_seconds(pid) if pid is not None else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", help="an existing server; default: start the embedded one")
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="lmp-plans-") as home,
        server(args.uri, Path(home)) as (uri, pid),
    ):
        client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
        db = client[f"lmp_plans_{os.getpid()}"]
        reports = db["reports"]
        reports.create_indexes(REPORT_INDEXES)
        for name, indexes in ARCHIVE_INDEXES.items():
            db[name].create_indexes(indexes)
        docs = [r.to_document() for r in bulk(args.reports, 50, CYCLES)]
        for start in range(0, len(docs), 5000):
            reports.insert_many(docs[start : start + 5000])
        info = client.server_info()
        print(
            f"{args.uri or 'secantusd-rs'}: version {info.get('version')}, "
            f"{args.reports:,} reports; server CPU {'measured' if pid else 'not measured'}"
        )
        print(
            f"{'query':42} {'rows':>5} {'keys':>6} {'docs':>6}  {'find ms':>8} {'cpu':>6}"
            f"  {'count ms':>8} {'cpu':>6}  plan"
        )
        for shape in shapes(reports):
            explained = shape.find(reports).explain()
            stats = explained["executionStats"]
            wall, cpu = timed(partial(read_all, shape, reports), pid, args.repeat)
            counted = ""
            if shape.counted:
                count = partial(db.command, {"count": "reports", "query": shape.criteria})
                counted = "{:8.1f} {:6.2f}".format(*timed(count, pid, args.repeat))
            print(
                f"{shape.label:42} {stats['nReturned']:>5} {stats['totalKeysExamined']:>6} "
                f"{stats['totalDocsExamined']:>6}  {wall:8.1f} {cpu:6.2f}  {counted:>15}  "
                f"{stages(explained['queryPlanner']['winningPlan'])}"
            )
        client.drop_database(db.name)
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
