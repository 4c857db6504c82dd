"""``topics list``: each topic's live partitions, messages and consumer-group lag, rendered."""

from __future__ import annotations

from collections.abc import Sequence

from services.adapters.kafka_admin import TopicStatus
from services.ops.render import json_line


def status_text(rows: Sequence[TopicStatus]) -> str:
    lines = []
    for row in rows:
        if row.partitions is None:
            state = f"MISSING (topics.yaml: {row.declared_partitions} partitions)"
        elif row.partitions_differ:
            declared = row.declared_partitions
            state = (
                f"{_partitions_text(row.partitions)} (topics.yaml: {declared}) DIFFERS"
                f"  {row.end_offset:>9} messages"
            )
        else:
            state = f"{_partitions_text(row.partitions)}  {row.end_offset:>9} messages"
        lines.append(f"{row.name:40} {row.direction:3}  {state}")
        for group in row.groups:
            notes = []
            if group.partitions_committed == 0:
                notes.append("no offsets committed")
            if not group.declared:
                notes.append("not in topics.yaml")
            note = f"  ({'; '.join(notes)})" if notes else ""
            lines.append(
                f"    group {group.group:34} committed {group.committed:>9}  "
                f"lag {group.lag:>9}{note}"
            )
    return "\n".join(lines)


def _partitions_text(count: int) -> str:
    return f"{count} partition" if count == 1 else f"{count} partitions"


def status_json(rows: Sequence[TopicStatus]) -> str:
    """One JSON object per topic, a line each (``topics list --json``)."""
    return "\n".join(json_line(row.model_dump(mode="json")) for row in rows)
