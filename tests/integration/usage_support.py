"""Usage ingestion's oracle, shared by its integration test and the rebalance fault test:
the figures a stream of snapshots must end with, computed independently, and the
figures stored."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tests.builders import CYCLE, Record, usage
from tests.harness import System

Snapshot = tuple[str, str, str, int, int | None]
"""partner, product, subscription, provisioned, used"""


def snapshot_record(snap: Snapshot, id_: str) -> Record:
    partner, product, sub, provisioned, used = snap
    return usage(partner, product=product, sub=sub, provisioned=provisioned, used=used, id_=id_)


def expected_lines(snapshots: list[Snapshot]) -> dict[str, Any]:
    """Independent oracle: per report and product, the sum over subscriptions of the peaks."""
    peaks: dict[tuple[str, str, str], list[int | None]] = {}
    for partner, product, sub, prov, used in snapshots:
        key = (partner, product, sub)
        best = peaks.setdefault(key, [0, None])
        best[0] = max(best[0] or 0, prov)
        if used is not None:
            best[1] = used if best[1] is None else max(best[1], used)
    lines: dict[str, dict[str, list[int | None]]] = defaultdict(dict)
    for (partner, product, _sub), (peak, peak_used) in peaks.items():
        line = lines[f"{partner}:{CYCLE}"].setdefault(product, [0, None])
        line[0] = (line[0] or 0) + (peak or 0)
        if peak_used is not None:
            line[1] = peak_used if line[1] is None else line[1] + peak_used
    return {rid: {p: tuple(v) for p, v in products.items()} for rid, products in lines.items()}


async def stored_lines(system: System) -> dict[str, Any]:
    docs = await system.store.reports.find({}, {"lines": 1}).to_list(None)
    return {
        doc["_id"]: {
            line["product_id"]: (line["provisioned_units"], line["used_units"])
            for line in doc["lines"]
        }
        for doc in docs
    }
